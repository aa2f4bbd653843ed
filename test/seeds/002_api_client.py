# Seed 002 (Solicitud Transporte), "Automatic Token Refresh (Recommended)": APIClient and its usage,
# as written.
import os  # changed: to read BASE_URL
import requests
from datetime import datetime, timedelta

class APIClient:
    def __init__(self, base_url, username, password):
        self.base_url = base_url
        self.username = username
        self.password = password
        self.access_token = None
        self.refresh_token = None
        self.token_expiry = None

    def login(self):
        """Authenticate and store tokens"""
        response = requests.post(
            f"{self.base_url}/auth/login",
            json={
                "username": self.username,
                "password": self.password
            }
        )
        data = response.json()
        if data["exito"]:
            self.access_token = data["datos"]["accessToken"]
            self.refresh_token = data["datos"]["refreshToken"]
            expires_in = data["datos"]["expiresIn"]
            self.token_expiry = datetime.now() + timedelta(seconds=expires_in)
            return True
        return False

    def refresh_access_token(self):
        """Refresh the access token"""
        response = requests.post(
            f"{self.base_url}/auth/refresh",
            json={"refreshToken": self.refresh_token}
        )
        data = response.json()
        if data["exito"]:
            self.access_token = data["datos"]["accessToken"]
            expires_in = data["datos"]["expiresIn"]
            self.token_expiry = datetime.now() + timedelta(seconds=expires_in)
            return True
        return False

    def get_headers(self):
        """Get headers with valid access token"""
        # Check if token is expired or about to expire (5 min buffer)
        if self.token_expiry and datetime.now() >= self.token_expiry - timedelta(minutes=5):
            self.refresh_access_token()
        return {
            "Authorization": f"Bearer {self.access_token}",
            "Content-Type": "application/json"
        }

    def get(self, endpoint):
        """Make authenticated GET request"""
        return requests.get(
            f"{self.base_url}{endpoint}",
            headers=self.get_headers()
        )

    def post(self, endpoint, data):
        """Make authenticated POST request"""
        return requests.post(
            f"{self.base_url}{endpoint}",
            json=data,
            headers=self.get_headers()
        )

# Usage
client = APIClient(
    base_url=os.environ["BASE_URL"],  # changed: was "http://localhost:8000"
    username="api_user",
    password="your-secure-password"
)

if client.login():
    # Make requests without worrying about token expiration
    response = client.get("/v1/auth/me")  # changed: was /solicitud/, a business route of theirs
    print(response.json())
