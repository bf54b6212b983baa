#!/usr/bin/python3
"""Known-answer vectors for deskcast-protocol, made with real libsodium through PyNaCl.

Run with Debian's python3-nacl (which links the system libsodium):

    /usr/bin/python3 protocol/tests/data/make_vectors.py > protocol/tests/data/libsodium_vectors.txt

Every input is derived from a fixed label, so the output is reproducible. The format is one
`name hex` pair per line; `#` starts a comment.
"""

import hashlib

import nacl
import nacl.bindings as sodium
import nacl.public
import nacl.secret
import nacl.signing


def seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def id_pk(ident: str, pk: bytes) -> bytes:
    """protobuf IdPk { 1: id string, 2: pk bytes }, fields in order, as RustDesk writes it."""
    raw = ident.encode()
    return b"\x0a" + varint(len(raw)) + raw + b"\x12" + varint(len(pk)) + pk


def emit(name: str, value: bytes) -> None:
    print(f"{name} {value.hex()}")


def main() -> None:
    print(f"# made by make_vectors.py with PyNaCl {nacl.__version__} over the system libsodium")
    agent_id = "123456789"
    print(f"# agent id: {agent_id}")

    # Long-term identities (crypto_sign_seed_keypair) and combined-mode signatures.
    identity = nacl.signing.SigningKey(seed("deskcast agent identity"))
    server = nacl.signing.SigningKey(seed("deskcast hbbs key"))
    emit("identity_seed", bytes(identity))
    emit("identity_pk", bytes(identity.verify_key))
    emit("identity_sk64", sodium.crypto_sign_seed_keypair(bytes(identity))[1])
    emit("server_seed", bytes(server))
    emit("server_pk", bytes(server.verify_key))

    # Ephemeral box keys: the agent's (signed in SignedId) and the client's (in PublicKey).
    agent_box_sk = seed("deskcast agent ephemeral box key")
    client_box_sk = seed("deskcast client ephemeral box key")
    agent_box_pk = bytes(nacl.public.PrivateKey(agent_box_sk).public_key)
    client_box_pk = bytes(nacl.public.PrivateKey(client_box_sk).public_key)
    emit("agent_box_sk", agent_box_sk)
    emit("agent_box_pk", agent_box_pk)
    emit("client_box_sk", client_box_sk)
    emit("client_box_pk", client_box_pk)

    # SignedId.id = crypto_sign(IdPk{id, agent box pk}, identity sk).
    signed_id = identity.sign(id_pk(agent_id, agent_box_pk))
    emit("signed_id", bytes(signed_id))
    # hbbs's pk field = crypto_sign(IdPk{id, identity pk}, server sk).
    server_signed = server.sign(id_pk(agent_id, bytes(identity.verify_key)))
    emit("server_signed_id_pk", bytes(server_signed))

    # PublicKey.symmetric_value = crypto_box_easy(session key, 24 zero bytes, agent box pk,
    # client box sk).
    session_key = seed("deskcast session key")
    emit("session_key", session_key)
    boxed = nacl.public.Box(
        nacl.public.PrivateKey(client_box_sk), nacl.public.PublicKey(agent_box_pk)
    ).encrypt(session_key, bytes(24)).ciphertext
    emit("boxed_session_key", boxed)

    # Sealed frames: crypto_secretbox_easy with nonce LE64(counter) || 16 zero bytes, one
    # counter per direction, the same key both ways.
    box = nacl.secret.SecretBox(session_key)
    for direction, texts in (
        ("agent", [b"agent frame one", b"\x4a\x00second agent frame", b""]),
        ("client", [b"client frame one", b"client frame two, a bit longer", b"\x01"]),
    ):
        for counter, text in enumerate(texts, start=1):
            nonce = counter.to_bytes(8, "little") + bytes(16)
            emit(f"{direction}_plain_{counter}", text)
            emit(f"{direction}_sealed_{counter}", box.encrypt(text, nonce).ciphertext)

    # Login: h1 = SHA256(password || salt); response = SHA256(h1 || challenge).
    password, salt, challenge = "correct horse", "2345678abcdefghijkmnpqrstuvwxyz2", "x7k2mq"
    print(f"# password {password!r} salt {salt!r} challenge {challenge!r}")
    h1 = hashlib.sha256(password.encode() + salt.encode()).digest()
    emit("login_h1", h1)
    emit("login_response", hashlib.sha256(h1 + challenge.encode()).digest())


if __name__ == "__main__":
    main()
