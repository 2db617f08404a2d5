//! Asking a person for a password on the terminal, with echo off.
//!
//! Only when stdin is a terminal (`isatty`): from a pipe or a file a
//! password is read as one line, without a prompt, as before. The prompt
//! goes to stderr, so stdout keeps only the command's output.
//!
//! Invariants: the terminal's settings are restored on every path out
//! (a guard restores them on drop, errors included); the line read is
//! held in a zeroizing buffer and never echoed.

use rustix::termios::{self, LocalModes, OptionalActions};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// Whether the process's stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    termios::isatty(io::stdin())
}

/// Puts the terminal's echo back as it was.
struct EchoOff {
    saved: termios::Termios,
}

impl EchoOff {
    /// Turn echo off on stdin's terminal (keeping the newline echoed).
    fn new() -> io::Result<EchoOff> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(&stdin)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        termios::tcsetattr(&stdin, OptionalActions::Flush, &quiet)?;
        Ok(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // Nothing better to do if the terminal went away meanwhile.
        let _ = termios::tcsetattr(io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Write `prompt` to `stderr`, then read one line from `input` (the
/// terminal on stdin) with echo off. The line ending is not included.
pub fn read_hidden(
    prompt: &str,
    stderr: &mut dyn Write,
    input: &mut dyn Read,
) -> io::Result<Zeroizing<String>> {
    // Echo goes off before the prompt shows, so nothing typed after the
    // prompt can be echoed.
    let _echo = EchoOff::new()?;
    write!(stderr, "{prompt}: ")?;
    stderr.flush()?;
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if line.len() > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "password line over 4096 bytes",
            ));
        }
    }
    while line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = std::str::from_utf8(&line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "password is not UTF-8"))?;
    Ok(Zeroizing::new(text.to_owned()))
}
