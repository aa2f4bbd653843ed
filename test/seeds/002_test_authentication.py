# Seed 002 (Solicitud Transporte), "Testing Authentication": test_authentication() as written.
import os  # changed: to read BASE_URL
import requests
import time

def test_authentication():
    base_url = os.environ["BASE_URL"]  # changed: was "http://localhost:8000"

    # Test 1: Login
    print("Test 1: Login...")
    response = requests.post(
        f"{base_url}/auth/login",
        json={
            "username": "api_user",
            "password": "your-secure-password"
        }
    )
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["exito"] == True
    access_token = tokens["datos"]["accessToken"]
    refresh_token = tokens["datos"]["refreshToken"]
    print("✓ Login successful")

    # Test 2: Authenticated request
    print("\nTest 2: Authenticated request...")
    response = requests.get(
        f"{base_url}/v1/auth/me",  # changed: was /solicitud/, a business route of theirs
        headers={"Authorization": f"Bearer {access_token}"}
    )
    assert response.status_code == 200
    print("✓ Authenticated request successful")

    # Test 3: Request without token
    print("\nTest 3: Request without token...")
    response = requests.get(f"{base_url}/v1/auth/me")  # changed: was /solicitud/
    assert response.status_code == 401
    print("✓ Unauthorized request blocked")

    # Test 4: Token refresh
    print("\nTest 4: Token refresh...")
    response = requests.post(
        f"{base_url}/auth/refresh",
        json={"refreshToken": refresh_token}
    )
    assert response.status_code == 200
    new_tokens = response.json()
    assert new_tokens["exito"] == True
    print("✓ Token refresh successful")

    print("\n✓ All authentication tests passed!")

if __name__ == "__main__":
    test_authentication()
