"""`llmdeploy bench`'s impure half: probe the endpoint, drive GuideLLM, draw the plots."""
