"""SigV4 verification for the local Bedrock server: the signature boto3 sent, recomputed with
botocore's own signer and the fixture's throwaway secret (AWS answers 403 when it is wrong)."""

from __future__ import annotations

import re


def verify_sigv4(method: str, path: str, headers: dict[str, str], body: bytes,
                 secrets: dict[str, str]) -> tuple[bool, str, str, str]:
    """(signature valid, access key, region, service) recomputed with botocore's signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = headers.get("authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                 r"\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)", auth)
    if not m:
        return False, "", "", ""
    key, _day, region, service, signed, signature = m.groups()
    secret = secrets.get(key)
    if secret is None:
        return False, key, region, service
    names = signed.split(";")
    request = AWSRequest(method=method, url=f"http://{headers.get('host', '')}{path}",
                         data=body, headers={n: headers.get(n, "") for n in names})
    request.context["timestamp"] = headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(key, secret, headers.get("x-amz-security-token")),
                       service, region)
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request)
    return expected == signature, key, region, service
