//! Trust material.
