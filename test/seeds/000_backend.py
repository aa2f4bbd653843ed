# Seed 000 (VidaPlus): its own server-side token check, get_current_user from vidaplus/security.py,
# and its settings class from vidaplus/settings.py, as its document quotes them, in the smallest
# FastAPI app that runs them: a VidaPlus backend that verifies tokens itself, with its SECRET_KEY
# and HS256, and looks its user up by `sub` = email in its own table.
# changed: this block is not in the document (imports, the user table, the session, the app and a
# business route stand in for the rest of vidaplus/); the quoted code below is unchanged.
import os
import socket
import sys
from http import HTTPStatus

import uvicorn
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer
from jwt import DecodeError, decode
from pydantic import BaseSettings
from sqlalchemy import Column, Integer, String, create_engine, select
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.pool import StaticPool

Base = declarative_base()


class BaseUser(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    email = Column(String, unique=True, nullable=False)


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token")
# changed: end of the block that is not in the document.


# vidaplus/settings.py, as quoted.
class Settings(BaseSettings):
    DATABASE_URL: str
    SECRET_KEY: str  # JWT signing key
    ALGORITHM: str  # JWT algorithm (e.g., HS256)
    ACCESS_TOKEN_EXPIRE_MINUTES: int  # Token lifetime


# changed: not in the document: the settings object, the database and its session.
settings = Settings()
engine = create_engine(settings.DATABASE_URL, connect_args={"check_same_thread": False}, poolclass=StaticPool)
Base.metadata.create_all(engine)
with Session(engine) as seeding:
    # Their own user table holds the same people as ours (the emails are given on the command line).
    seeding.add_all([BaseUser(email=email) for email in sys.argv[1:]])
    seeding.commit()


def get_session():
    with Session(engine) as session:
        yield session


# vidaplus/security.py:43, as quoted.
def get_current_user(
    session: Session = Depends(get_session),
    token: str = Depends(oauth2_scheme),
):
    credentials_exception = HTTPException(
        status_code=HTTPStatus.UNAUTHORIZED,
        detail='Could not validate credentials',
        headers={'WWW-Authenticate': 'Bearer'},
    )
    try:
        payload = decode(
            token, settings.SECRET_KEY, algorithms=[settings.ALGORITHM]
        )
        subject_email = payload.get('sub')
        if not subject_email:
            raise credentials_exception
    except DecodeError:
        raise credentials_exception
    user = session.scalar(
        select(BaseUser).where(BaseUser.email == subject_email)
    )
    if not user:
        raise credentials_exception
    return user


# changed: not in the document: one of their business routes (the document's "/pacientes/"),
# protected by get_current_user as theirs are, answering who it let in; and the server.
app = FastAPI()


@app.get("/pacientes/")
def list_pacientes(user: BaseUser = Depends(get_current_user)):
    return {"user": user.email, "pacientes": []}


if __name__ == "__main__":
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print(f"listening {listener.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
