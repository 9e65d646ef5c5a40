"""PyInstaller hook for botocore, replacing the contrib hook that ships all ~400 service models.

Genre Desktop only talks to Bedrock, and to S3 for batch jobs (the JSONL records in and out);
credential providers may call STS (assume-role), SSO, SSO-OIDC and Sign-In (console login
profiles). Everything else is 25 MB of dead weight.
"""

from PyInstaller.utils.hooks import collect_data_files

SERVICES = ("bedrock", "bedrock-runtime", "s3", "sts", "sso", "sso-oidc", "signin")

hiddenimports = ["html.parser"]
datas = collect_data_files("botocore", includes=["data/*.json", "cacert.pem"])
for service in SERVICES:
    datas += collect_data_files("botocore", includes=[f"data/{service}/**/*"])
