# Not seed code: Vigia's document (seed 001) shows no server code, but its login example shows the
# token its backends read. This decodes that example token (as printed in the document, unverified:
# its signature is the word "signature") for its claim names and types, then verifies our token the
# way a Python backend of theirs would (PyJWT, HS256, its secret) and prints both, for the test to
# compare. Usage: SECRET=... python3 001_token_claims.py TOKEN
import base64
import json
import os
import sys

import jwt

# From the document's login example ("access_token"), as printed.
EXAMPLE = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjMiLCJ1aWQiOjEyMywidXNlcm5hbWUiOiJqdWFuLnBlcmV6IiwiZW1haWwiOiJqdWFuLnBlcmV6QGV4YW1wbGUuY29tIiwicm9sZSI6ImFkbWluIiwicm9sZXMiOlsiYWRtaW4iLCJxZiJdLCJ0ZW5hbnQiOiJhY21lLXBoYXJtYSIsInRyYWNlIjoiYWJjZDEyMzQiLCJleHAiOjE3MDk4NTYwMDB9.signature"

# Read by hand: "signature" is not even base64, so PyJWT will not parse it.
segment = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
example_header, example = (segment(part) for part in EXAMPLE.split(".")[:2])
ours = jwt.decode(sys.argv[1], os.environ["SECRET"], algorithms=["HS256"])
types = lambda claims: {name: type(value).__name__ for name, value in claims.items()}
print(json.dumps({
    "example": example,
    "example_types": types(example),
    "example_header": example_header,
    "ours": ours,
    "ours_types": types(ours),
    "ours_header": jwt.get_unverified_header(sys.argv[1]),
}))
