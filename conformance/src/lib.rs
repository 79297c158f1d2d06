//! CRI traces: format, recording and replay.
