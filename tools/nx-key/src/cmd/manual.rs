//! `nx completions SHELL` and `nx man --out DIR`: shell completions and
//! manual pages generated from the clap definitions of the command line,
//! so they always describe the binary that prints them.
//!
//! Invariant: one man page per command that does something (`nx`, then
//! `nx-<cmd>`, `nx-<cmd>-<sub>` …, as git names its pages); clap's own
//! `help` subcommands get none.

use crate::cli::{Cli, CompletionShell};
use crate::ctx::Ctx;
use crate::error::NxError;
use clap::CommandFactory;
use serde_json::json;
use std::path::Path;

/// `nx completions SHELL`: the script on stdout.
pub fn completions(ctx: &mut Ctx<'_>, shell: CompletionShell) -> Result<(), NxError> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    match shell {
        CompletionShell::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "nx", &mut out)
        }
        CompletionShell::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "nx", &mut out)
        }
        CompletionShell::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "nx", &mut out)
        }
    }
    crate::io::write_output(&mut ctx.io, None, &out)
}

/// Every command of the tree under `cmd` (itself included), built so
/// that each knows its full name (`nx-key-create`) and usage line.
pub fn pages(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut all = vec![cmd.clone()];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        all.extend(pages(sub));
    }
    all
}

/// `nx man --out DIR`: one roff page per command.
pub fn man(ctx: &mut Ctx<'_>, dir: &Path) -> Result<(), NxError> {
    let what = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(|e| NxError::io(&what, &e))?;
    let mut root = Cli::command();
    root.build();
    let mut written = Vec::new();
    for cmd in pages(&root) {
        let title = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
        let man = clap_mangen::Man::new(cmd).title(title.clone()).section("1");
        let mut page = Vec::new();
        man.render(&mut page)
            .map_err(|e| NxError::io(&format!("{title}.1"), &e))?;
        let path = dir.join(format!("{title}.1"));
        std::fs::write(&path, page).map_err(|e| NxError::io(&path.display().to_string(), &e))?;
        written.push(format!("{title}.1"));
    }
    let human = format!("wrote {} manual pages into {what}", written.len());
    ctx.emit(json!({ "dir": what, "pages": written }), &human)
}
