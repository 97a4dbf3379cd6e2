"""Local stand-ins for the services we send through (JPush, Alibaba Cloud SMS), for tests.

Each speaks enough of its service's real HTTP protocol for the official client to talk to it
unchanged, runs uvicorn in a background thread on a free loopback port, and can be scripted to
answer with the service's own error codes.
"""
