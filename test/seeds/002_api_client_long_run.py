# Not seed code: drives the seed's APIClient (002_api_client.py, imported unchanged, which runs its
# own usage first) through several refreshes over time, as a long-running client of theirs would.
# Their client keeps the first refresh token forever; this proves it stays signed in.
import importlib.util
import os
import sys
import time

spec = importlib.util.spec_from_file_location("seed_client", os.path.join(os.path.dirname(__file__), "002_api_client.py"))
seed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed)

pause = float(sys.argv[1])
for attempt in range(3):
    time.sleep(pause)
    response = seed.client.get("/v1/auth/me")
    assert response.status_code == 200, (attempt, response.status_code, response.text)
print("long run: still signed in after 3 refreshes")
