"""Publishing: each host's finished outputs go, unchanged, to one shared folder or bucket (`output_url`).

`target` is the seam (a folder or S3, the same five operations), `rule` the one create-or-compare rule
both follow, `outbox` the durable queue in the state that publishes later what the store could not take.
"""
