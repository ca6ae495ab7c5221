"""A real TLS endpoint for the security tests: a throw-away CA and certificates made with `openssl` at test time
(no private key is ever committed), and nginx terminating TLS with basic auth in front of the test node."""
