"""Declares resources with secret, plaintext-read-as-secret, and computed values."""

import pulumi
import pulumi_docker as docker

config = pulumi.Config()
api_token = config.require_secret("apiToken")
plain_token = config.require_secret("plainToken")
port = config.require_int("port")

image = docker.RemoteImage("app-image", name="nginx:1.27.3")
container = docker.Container(
    "app",
    image=image.image_id,
    envs=[pulumi.Output.concat("API_TOKEN=", api_token), pulumi.Output.concat("PLAIN=", plain_token)],
    ports=[docker.ContainerPortArgs(internal=80, external=port)],
)
pulumi.export("greeting", config.get("greeting"))
pulumi.export("token", plain_token)
pulumi.export("image_id", image.image_id)
