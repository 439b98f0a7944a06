//! Credential checks: PAP, CHAP, MS-CHAPv2. Pure and synchronous; no I/O.
