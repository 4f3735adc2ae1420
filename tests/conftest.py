"""Suite-wide guards: no test may reach a cloud metadata service or any address beyond loopback.

botocore's credential chain and google-auth's Application Default Credentials both probe link-local
metadata endpoints when nothing else is configured; these settings switch those probes off (or point
them at a closed loopback port) for every test and every subprocess a test starts.
"""

from __future__ import annotations

import os

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")
os.environ["NO_GCE_CHECK"] = "True"
for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS"):
    os.environ.pop(name, None)
