# Seed 002 (Solicitud Transporte), "Handle authentication errors gracefully": handle_auth_error as
# written, run against a limited login. The seed leaves the functions it calls to the reader; they
# are added below, each marked `# added:`, and so is the driver at the end, which guesses a
# password until the API answers 429, then lets handle_auth_error wait and retry with the right one.
import json  # added: to print what the client saw
import os  # added: to read BASE_URL
import sys  # added: the account and passwords from the command line
import time  # added: wait_and_retry sleeps

import requests

base_url = os.environ["BASE_URL"]  # added
username, wrong_password, right_password = sys.argv[1:4]  # added
last_response = None  # added: the response handle_auth_error is handling
retried = None  # added: what the retry answered


def login(password):  # added: the seed's own login call (APIClient.login)
    return requests.post(f"{base_url}/auth/login", json={"username": username, "password": password})


def refresh_token():  # added: not reached here
    raise RuntimeError("refresh_token: no token to refresh")


def retry_request():  # added: not reached here
    raise RuntimeError("retry_request: not reached")


def show_error(message):  # added
    print(json.dumps({"error": message}))


def wait_and_retry():  # added: waits as long as the server says (Retry-After), then signs in again
    global retried
    delay = int(last_response.headers.get("Retry-After", "1"))
    print(json.dumps({"waiting": delay}))
    time.sleep(delay)
    retried = login(right_password)


def handle_auth_error(response):
    if response.status_code == 401:
        # Token expired or invalid
        refresh_token()
        retry_request()
    elif response.status_code == 403:
        # Insufficient permissions
        show_error("No tiene permisos para esta acción")
    elif response.status_code == 429:
        # Rate limit exceeded
        wait_and_retry()


# added: the driver
for attempt in range(20):
    last_response = login(wrong_password)
    print(json.dumps({"status": last_response.status_code, "body": last_response.json()}))
    if last_response.status_code == 429:
        break
handle_auth_error(last_response)
print(json.dumps({"retried": retried.status_code, "exito": retried.json()["exito"]}))
