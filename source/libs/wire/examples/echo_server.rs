//! A minimal service for trying clients written from
//! docs/architecture/wire.md: `echo` returns its arguments, `whoami` the
//! caller's subject (every uid maps to `uid:<n>`).
//!
//! Run: `cargo run -p wire --example echo_server -- /tmp/echo.sock`

#![forbid(unsafe_code)]

use wire::{
    Args, CallContext, PeerCredResolver, Request, Server, ServerConfig, Subject, Value, WireError,
};

fn handle(ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
    match req.op() {
        "echo" => Ok(req.args().clone().into_value()),
        "whoami" => Ok(Args::new()
            .with("subject", ctx.subject().to_string())
            .into_value()),
        other => Err(WireError::unknown_op(other)),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: echo_server <socket path>")?;
    let server = Server::new(handle, ServerConfig::default());
    server.listen(&path, PeerCredResolver::new(|uid| Some(Subject::Uid(uid))))?;
    eprintln!(
        "echo_server: ready on {}",
        std::path::Path::new(&path).display()
    );
    server.wait();
    Ok(())
}
