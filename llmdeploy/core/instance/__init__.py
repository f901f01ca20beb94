"""Programs that run on the serving instances, shipped inside their user data.

They import nothing from llmdeploy (the instance has only the system Python),
and stay compatible with Python 3.9, the oldest on the GPU AMIs we target.
"""
