//! The GPU-backend simulator: an OpenAI-compatible server with realistic queueing, timing and faults.
