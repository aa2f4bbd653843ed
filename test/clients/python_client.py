"""A Python client of the AuthService, as another team would write it: stubs generated from proto/
with protoc and grpcio's plugin, Debian's python3-grpcio. Registers, logs in, calls Me, validates,
refreshes, and reads the ErrorInfo reason of a failed call. Prints what it saw as JSON.

Usage: python_client.py <generated stubs dir> <host:port> <email> <password>
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from auth.v1 import auth_pb2, auth_pb2_grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402


def reason_of(error: grpc.RpcError) -> str:
    """The ErrorInfo reason in the grpc-status-details-bin trailer (a google.rpc.Status)."""
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    status = status_pb2.Status.FromString(details)
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


address, email, password = sys.argv[2], sys.argv[3], sys.argv[4]
with grpc.insecure_channel(address) as channel:
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    user = stub.Register(auth_pb2.RegisterRequest(email=email, password=password, full_name="Py Thon")).user
    login = stub.Login(auth_pb2.LoginRequest(identifier=email.upper(), password=password))
    bearer = [("authorization", f"Bearer {login.access_token}")]
    me = stub.Me(auth_pb2.MeRequest(), metadata=bearer).user
    check = stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=login.access_token))
    refreshed = stub.Refresh(auth_pb2.RefreshRequest(refresh_token=login.refresh_token))
    try:
        stub.Login(auth_pb2.LoginRequest(identifier=email, password=password + "-wrong"))
        failure = {}
    except grpc.RpcError as error:
        failure = {"code": error.code().name, "reason": reason_of(error)}
    print(json.dumps({
        "registered": user.id,
        "me": {"id": me.id, "email": me.email, "full_name": me.full_name, "roles": list(me.roles)},
        "token_type": login.token_type,
        "active": check.active,
        "session_id": check.session_id,
        "new_refresh_differs": refreshed.refresh_token != login.refresh_token,
        "failure": failure,
    }))
