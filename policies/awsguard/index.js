// AWSGuard with every policy mandatory: accepted exceptions live in config/<stack>.json, each with its reason.
const { AwsGuard } = require("@pulumi/awsguard");

new AwsGuard({ all: "mandatory" });
