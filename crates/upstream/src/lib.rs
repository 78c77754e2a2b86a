//! HTTP to GPU backends: pooled keep-alive connections, per-kind request adaptation.
