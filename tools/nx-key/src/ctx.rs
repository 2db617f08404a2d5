//! What every command gets: the streams, the output mode and the way to
//! reach the services; and the two ways a command reports (a JSON object
//! with stable field names, or text for people).
//!
//! Invariant: with `--json`, stdout carries exactly one JSON object and a
//! newline; binary data goes into it as standard padded base64 in a field
//! whose name ends in `_b64` (or to `--out FILE`, then named in `out`).
//! Without `--json`, binary data is written raw to `--out FILE` or stdout
//! and nothing else is written to stdout alongside it.

use crate::error::NxError;
use crate::io::{write_output, Io};
use base64::Engine;
use nexus_keychain::{Keychain, LinkConfig, Service, ServiceClient};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// Standard padded base64, the encoding of every binary JSON field.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A command's context.
pub struct Ctx<'a> {
    /// Streams.
    pub io: Io<'a>,
    /// `--json`.
    pub json: bool,
    /// The run directory (see [`crate::rundir`]).
    pub run: PathBuf,
    /// Where [`Ctx::run`] came from.
    pub run_from: crate::rundir::RunFrom,
    /// `$NEXUS_SID`, read once by [`crate::run`].
    pub sid_env: Option<String>,
}

impl Ctx<'_> {
    /// A keychain over the public sockets in `--run`.
    pub fn keychain(&self) -> Keychain {
        Keychain::connect_with(&self.run, LinkConfig::default())
    }

    /// The session id of a command (see [`crate::cli::Sid`]).
    pub fn sid(&mut self, from: &crate::cli::Sid) -> Result<nexus_core::SessionId, NxError> {
        crate::io::read_sid(
            &mut self.io,
            from.sid_file.as_deref(),
            self.sid_env.as_deref(),
        )
    }

    /// A client for one service's public socket in `--run`.
    pub fn service(&self, service: Service) -> ServiceClient {
        ServiceClient::at_path(service, service.socket_in(&self.run), LinkConfig::default())
    }

    fn line(&mut self, text: &str) -> Result<(), NxError> {
        writeln!(self.io.stdout, "{text}")
            .and_then(|()| self.io.stdout.flush())
            .map_err(|e| NxError::io("stdout", &e))
    }

    /// Report a result: `json` with `--json`, else `human` (if not empty).
    pub fn emit(&mut self, json: Json, human: &str) -> Result<(), NxError> {
        if self.json {
            self.line(&json.to_string())
        } else if human.is_empty() {
            Ok(())
        } else {
            self.line(human.trim_end_matches('\n'))
        }
    }

    /// Report a result whose payload is binary `data`: see the module
    /// doc. `meta` is the JSON object to complete; `human` is printed only
    /// when the data went to a file.
    pub fn emit_data(
        &mut self,
        out: Option<&Path>,
        field: &str,
        data: &[u8],
        mut meta: Map<String, Json>,
        human: &str,
    ) -> Result<(), NxError> {
        if self.json {
            match out {
                Some(p) => {
                    write_output(&mut self.io, Some(p), data)?;
                    meta.insert("out".into(), Json::String(p.display().to_string()));
                    meta.insert("bytes".into(), Json::from(data.len()));
                }
                None => {
                    meta.insert(format!("{field}_b64"), Json::String(b64(data)));
                }
            }
            return self.line(&Json::Object(meta).to_string());
        }
        write_output(&mut self.io, out, data)?;
        if out.is_some() && !human.is_empty() {
            self.line(human)?;
        }
        Ok(())
    }

    /// A warning for people (stderr); in JSON mode warnings are fields.
    pub fn warn(&mut self, text: &str) {
        if !self.json {
            // A failed write to stderr has nowhere else to go.
            let _ = writeln!(self.io.stderr, "nx: warning: {text}");
        }
    }
}

/// Build a JSON object from pairs.
pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Map<String, Json> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
