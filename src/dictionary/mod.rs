//! FreeRADIUS-format dictionaries loaded at runtime.
