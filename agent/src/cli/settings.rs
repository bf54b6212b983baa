//! `deskcast id`, `deskcast password`, `deskcast config`: the identity and settings from the
//! command line. The file handling is in [`crate::service::config`].

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::service::config::{self, Config, ConfigError, Env, LoadReport};

/// Where the configuration file is (shared by every subcommand that reads it).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigPath {
    /// The configuration file [default: $XDG_CONFIG_HOME/deskcast/deskcast.toml].
    #[arg(long, global = true, value_name = "PATH", env = "DESKCAST_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigPath {
    /// The path to use: the option, else the XDG default.
    pub fn resolve(&self, env: &Env) -> Result<PathBuf, ConfigError> {
        match &self.config {
            Some(p) => Ok(p.clone()),
            None => config::default_path(env),
        }
    }

    /// Loads (creating on first use) the configuration, telling the user about anything new on
    /// `out` (the ID and a generated password) and about problems on the log.
    pub fn load(&self, env: &Env, out: &mut dyn Write) -> Result<Config, ConfigError> {
        let path = self.resolve(env)?;
        let (config, report) = config::load_or_create(&path, env)?;
        announce(&config, &report, out);
        Ok(config)
    }
}

/// Prints what a first start created and warns about what looks wrong.
pub fn announce(config: &Config, report: &LoadReport, out: &mut dyn Write) {
    if report.created {
        let _ = writeln!(
            out,
            "Created {} with a new identity.",
            config.path.display()
        );
    }
    if let Some(password) = &report.generated_password {
        let _ = writeln!(out, "ID:       {}", config.id);
        let _ = writeln!(out, "Password: {password}");
        let _ = writeln!(
            out,
            "(shown once: only a hash is stored; change it with `deskcast password set`)"
        );
    }
    for key in &report.unknown_keys {
        tracing::warn!(file = %config.path.display(), "unknown setting `{key}` ignored (a typo?)");
    }
    if report.too_open {
        tracing::warn!(
            file = %config.path.display(),
            "the file holds the secret key but others can read it; fix: chmod 600"
        );
    }
}

/// `deskcast id`.
#[derive(Debug, Clone, clap::Args)]
pub struct IdArgs {
    /// What to do with the ID.
    #[command(subcommand)]
    pub action: Option<IdAction>,
}

/// `deskcast id` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum IdAction {
    /// Print the ID clients dial (the default).
    Show,
    /// Change the ID (6–16 digits, or a letter followed by 5–15 letters, digits, `_`, `-`).
    Set {
        /// The new ID.
        id: String,
    },
}

/// Runs `deskcast id`.
pub fn run_id(
    args: IdArgs,
    path: &ConfigPath,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(), ConfigError> {
    let config = path.load(env, out)?;
    match args.action.unwrap_or(IdAction::Show) {
        IdAction::Show => {
            let _ = writeln!(out, "{}", config.id);
        }
        IdAction::Set { id } => {
            config::store_id(&config.path, &id)?;
            let _ = writeln!(
                out,
                "ID changed from {} to {id}; a running agent picks it up when restarted.",
                config.id
            );
        }
    }
    Ok(())
}

/// `deskcast password`.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordArgs {
    /// What to do with the password.
    #[command(subcommand)]
    pub action: PasswordAction,
}

/// `deskcast password` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum PasswordAction {
    /// Set the password clients log in with (asked twice on a terminal, else one line on stdin).
    Set {
        /// Read one line from standard input even on a terminal.
        #[arg(long)]
        stdin: bool,
    },
    /// Replace the password with a new random one and print it.
    Random,
}

/// What went wrong in `deskcast password`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The configuration could not be read or written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading the new password failed.
    #[error("reading the password: {0}")]
    Read(#[source] std::io::Error),
    /// The password was rejected.
    #[error("{0}")]
    Rejected(&'static str),
}

/// Runs `deskcast password`.
pub fn run_password(
    args: PasswordArgs,
    path: &ConfigPath,
    env: &Env,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), PasswordError> {
    let config = path.load(env, out)?;
    let password = match args.action {
        PasswordAction::Random => {
            let p = config::random_password();
            let _ = writeln!(out, "Password: {p}");
            p
        }
        PasswordAction::Set { stdin } => {
            let interactive = !stdin && std::io::stdin().is_terminal();
            let first = prompt(interactive, "New password: ", input, out)?;
            if interactive && prompt(true, "Again: ", input, out)? != first {
                return Err(PasswordError::Rejected(
                    "the two passwords differ; nothing changed",
                ));
            }
            first
        }
    };
    if password.chars().count() < 6 {
        return Err(PasswordError::Rejected(
            "use at least 6 characters; nothing changed",
        ));
    }
    config::store_password_hash(
        &config.path,
        &config::password_hash(&password, &config.salt),
    )?;
    let _ = writeln!(
        out,
        "Password set for ID {} (stored as a salted hash).",
        config.id
    );
    Ok(())
}

fn prompt(
    interactive: bool,
    text: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<String, PasswordError> {
    if interactive {
        return rpassword::prompt_password(text).map_err(PasswordError::Read);
    }
    let _ = out.flush();
    let mut line = String::new();
    input.read_line(&mut line).map_err(PasswordError::Read)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// `deskcast config`.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// `deskcast config` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum ConfigAction {
    /// Print the effective configuration (file plus DESKCAST_* overrides), secrets masked.
    Show,
    /// Print the configuration file's path.
    Path,
}

/// Runs `deskcast config`.
pub fn run_config(
    args: ConfigArgs,
    path: &ConfigPath,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(), ConfigError> {
    match args.action {
        ConfigAction::Path => {
            let _ = writeln!(out, "{}", display(&path.resolve(env)?));
        }
        ConfigAction::Show => {
            let config = path.load(env, out)?;
            let _ = write!(out, "{}", config::masked(&config));
        }
    }
    Ok(())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, ConfigPath, Env) {
        let dir = tempfile::tempdir().unwrap();
        let path = ConfigPath {
            config: Some(dir.path().join("deskcast.toml")),
        };
        (dir, path, Env::default())
    }

    #[test]
    fn id_prints_a_new_identity_once_then_just_the_id() {
        let (_dir, path, env) = setup();
        let mut out = Vec::new();
        run_id(IdArgs { action: None }, &path, &env, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Created") && text.contains("Password: "),
            "{text}"
        );
        let id = text.lines().last().unwrap().to_owned();
        let mut out = Vec::new();
        run_id(
            IdArgs {
                action: Some(IdAction::Show),
            },
            &path,
            &env,
            &mut out,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim(), id);

        let mut out = Vec::new();
        let set = IdArgs {
            action: Some(IdAction::Set {
                id: "desk-one".into(),
            }),
        };
        run_id(set, &path, &env, &mut out).unwrap();
        let mut out = Vec::new();
        run_id(IdArgs { action: None }, &path, &env, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap().trim(), "desk-one");
        let bad = IdArgs {
            action: Some(IdAction::Set { id: "x".into() }),
        };
        assert!(
            run_id(bad, &path, &env, &mut Vec::new())
                .unwrap_err()
                .to_string()
                .contains("`id`")
        );
    }

    #[test]
    fn password_set_from_stdin_stores_only_the_salted_hash() {
        let (_dir, path, env) = setup();
        let set = || PasswordArgs {
            action: PasswordAction::Set { stdin: true },
        };
        let mut out = Vec::new();
        run_password(set(), &path, &env, &mut &b"correct horse\n"[..], &mut out).unwrap();
        let config = path.load(&env, &mut Vec::new()).unwrap();
        assert_eq!(
            config.password_hash,
            Some(config::password_hash("correct horse", &config.salt))
        );
        let file = std::fs::read_to_string(&config.path).unwrap();
        assert!(!file.contains("correct horse"));

        let err =
            run_password(set(), &path, &env, &mut &b"short\n"[..], &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("at least 6"), "{err}");
        let again = path.load(&env, &mut Vec::new()).unwrap();
        assert_eq!(
            again.password_hash, config.password_hash,
            "a rejected password changes nothing"
        );

        let mut out = Vec::new();
        let random = PasswordArgs {
            action: PasswordAction::Random,
        };
        run_password(random, &path, &env, &mut &b""[..], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let shown = text
            .lines()
            .find_map(|l| l.strip_prefix("Password: "))
            .unwrap();
        let after = path.load(&env, &mut Vec::new()).unwrap();
        assert_eq!(
            after.password_hash,
            Some(config::password_hash(shown, &after.salt))
        );
    }

    #[test]
    fn config_show_masks_and_path_prints_the_file() {
        let (_dir, path, env) = setup();
        let mut out = Vec::new();
        run_config(
            ConfigArgs {
                action: ConfigAction::Path,
            },
            &path,
            &env,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().trim(),
            display(path.config.as_ref().unwrap())
        );
        let mut out = Vec::new();
        run_config(
            ConfigArgs {
                action: ConfigAction::Show,
            },
            &path,
            &env,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("secret_key = \"********\""), "{text}");
    }
}
