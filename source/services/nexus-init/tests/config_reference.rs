#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! docs/reference/config.md documents every key the manifest and policy
//! parsers accept, every capability, the daemons' common flags and
//! nexus-init's flags. The keys are not listed here: each parser is asked,
//! by feeding it an unknown key in each table and reading the keys its
//! refusal says it expected, so a key added to a parser and not to the
//! page fails this test.

use clap::CommandFactory;
use std::path::Path;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/reference/config.md");
    std::fs::read_to_string(path).unwrap()
}

/// The part of the page under `heading` (a `### ` or `## ` line), up to
/// the next heading.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?} in config.md"));
    let body = &doc[start + heading.len() + 2..];
    let end = body
        .find("\n## ")
        .into_iter()
        .chain(body.find("\n### "))
        .min()
        .unwrap_or(body.len());
    &body[..end]
}

/// The keys named in a serde "unknown field `zzz_probe`, expected …"
/// message.
fn expected_keys(message: &str) -> Vec<String> {
    let tail = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("not an unknown-field refusal: {message}"))
        .1;
    let keys: Vec<String> = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "{message}");
    keys
}

fn assert_documented(doc: &str, heading: &str, keys: &[String]) {
    let s = section(doc, heading);
    for k in keys {
        // A key as `key`; a flag as `--flag` or `--flag VALUE`.
        assert!(
            s.contains(&format!("`{k}`")) || s.contains(&format!("`{k} ")),
            "config.md, {heading}: key `{k}` is not documented"
        );
    }
}

#[test]
fn every_manifest_key_is_documented() {
    let doc = doc();
    for (heading, probe) in [
        ("### Manifest: top level", "zzz_probe = 1\n"),
        ("### Manifest: `[restart]`", "[restart]\nzzz_probe = 1\n"),
        (
            "### Manifest: `[[service]]`",
            "[[service]]\nzzz_probe = 1\n",
        ),
        ("### Manifest: `[[route]]`", "[[route]]\nzzz_probe = 1\n"),
        ("### Manifest: `[sockets]`", "[sockets]\nzzz_probe = 1\n"),
    ] {
        let e = nexus_init::Manifest::parse(&format!("version = 1\n{probe}")).unwrap_err();
        assert_documented(&doc, heading, &expected_keys(&e.to_string()));
    }
}

#[test]
fn every_policy_key_and_capability_is_documented() {
    let doc = doc();
    for (heading, probe) in [
        ("### Policy: top level", "zzz_probe = 1\n"),
        ("### Policy: `[defaults]`", "[defaults]\nzzz_probe = 1\n"),
        (
            "### Policy: `[[subjects]]`",
            "[[subjects]]\nzzz_probe = 1\n",
        ),
        ("### Policy: `[[uid_map]]`", "[[uid_map]]\nzzz_probe = 1\n"),
        (
            "### Policy: quotas",
            "[defaults]\nkeystore_quota = { zzz_probe = 1 }\n",
        ),
    ] {
        let e = policy::Policy::from_toml_str(&format!("version = 1\n{probe}")).unwrap_err();
        assert_documented(&doc, heading, &expected_keys(&e.to_string()));
    }
    let caps: Vec<String> = nexus_core::Capability::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_documented(&doc, "### Policy: `[[subjects]]`", &caps);
}

fn long_flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .map(|l| format!("--{l}"))
        .collect()
}

#[test]
fn every_daemon_flag_and_init_flag_is_documented() {
    let doc = doc();
    let daemon = long_flags(&nexus_daemon::common_flags());
    assert!(daemon.iter().any(|f| f == "--socket-group"), "{daemon:?}");
    assert_documented(&doc, "## The daemons' common flags", &daemon);
    let init = long_flags(&nexus_init::Cli::command());
    assert!(init.iter().any(|f| f == "--run"), "{init:?}");
    assert_documented(&doc, "## nexus-init's flags", &init);
}

#[test]
fn the_examples_on_the_page_parse() {
    let doc = doc();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "one manifest and one policy example");
    nexus_init::Manifest::parse(blocks[0]).unwrap();
    policy::Policy::from_toml_str(blocks[1]).unwrap();
}
