# Seed 001 (Vigia), "Complete Authentication Flow", as written.
import os  # changed: to read BASE_URL
import json  # changed: to print what the flow got, for the test
import requests

BASE_URL = os.environ["BASE_URL"]  # changed: was https://api.vigia.com

# 1. Login
login_response = requests.post(
    f"{BASE_URL}/api/v1/auth/login",
    headers={"X-Tenant": "acme-pharma"},
    data={
        "username": "juan.perez@example.com",
        "password": "SecurePass123"
    }
)
token = login_response.json()["access_token"]

# 2. Use token for authenticated requests
headers = {
    "Authorization": f"Bearer {token}",
    "X-Tenant": "acme-pharma"
}

# 3. Get current user info
user_info = requests.get(
    f"{BASE_URL}/api/v1/auth/me",
    headers=headers
).json()

# 4. Make other API calls
icsrs = requests.get(
    f"{BASE_URL}/api/v1/auth/whoami",  # changed: was /api/v1/icsrs, a business route of theirs
    headers=headers
).json()

print(json.dumps({"user_info": user_info, "icsrs": icsrs}))  # changed: output for the test
