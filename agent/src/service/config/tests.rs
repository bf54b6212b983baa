//! Tests of the configuration file: creation, preservation of user edits, errors, overrides.

use super::*;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sub").join("deskcast.toml");
    (dir, path)
}

#[test]
fn first_start_creates_a_private_file_with_identity_and_password() {
    let (_dir, path) = temp();
    let (config, report) = load_or_create(&path, &Env::default()).expect("created");
    assert!(report.created);
    let password = report
        .generated_password
        .expect("a password is generated on first start");
    assert_eq!(password.len(), PASSWORD_LEN);
    assert_eq!(
        config.password_hash,
        Some(password_hash(&password, &config.salt))
    );
    assert_eq!(config.id.len(), 9);
    assert!(config.id.bytes().all(|b| b.is_ascii_digit()) && !config.id.starts_with('0'));
    assert_eq!(config.salt.len(), SALT_LEN);
    assert!(config.server.rendezvous.is_none());
    assert!(
        config.direct.enabled(&config.server),
        "direct IP is on when no server is configured"
    );
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(&password),
        "the password itself is never stored"
    );

    // Second start: same identity, no new password, nothing rewritten.
    let (again, report) = load_or_create(&path, &Env::default()).expect("reloaded");
    assert!(!report.created && report.generated_password.is_none());
    assert_eq!(again, config);
    assert_eq!(fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn user_edits_and_comments_survive_writes() {
    let (_dir, path) = temp();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let key = BASE64.encode([7u8; 32]);
    fs::write(
        &path,
        format!("# my own note\nid = \"a1b2c3d4\"\n[server]\nrendezvous = \"hbbs.lan:21116\" # home\nkey = \"{key}\"\n[mine]\nx = 1\n"),
    )
    .unwrap();
    let (config, report) =
        load_or_create(&path, &Env::default()).expect("loads a hand-written file");
    assert_eq!(config.id, "a1b2c3d4");
    assert_eq!(config.server.rendezvous.as_deref(), Some("hbbs.lan:21116"));
    assert!(!config.direct.enabled(&config.server));
    assert!(
        report.generated_password.is_none(),
        "a hand-written file does not get a surprise password"
    );
    assert_eq!(config.password_hash, None);
    assert_eq!(report.unknown_keys, vec!["mine".to_owned()]);

    store_password_hash(&path, &password_hash("hunter22", &config.salt)).unwrap();
    store_id(&path, "987654321").unwrap();
    let text = fs::read_to_string(&path).unwrap();
    for kept in ["# my own note", "# home", "[mine]", "x = 1", &key] {
        assert!(text.contains(kept), "lost `{kept}`:\n{text}");
    }
    let (config, _) = load_or_create(&path, &Env::default()).unwrap();
    assert_eq!(config.id, "987654321");
    assert_eq!(
        config.password_hash,
        Some(password_hash("hunter22", &config.salt))
    );
}

#[test]
fn bad_values_name_the_field_and_the_fix() {
    let cases = [
        (
            "[server]\nkey = \"not-a-key\"\n",
            "server.key",
            "id_ed25519.pub",
        ),
        (
            "[server]\nrendezvous = \"hbbs.lan:99999\"\n",
            "server.rendezvous",
            "host:port",
        ),
        ("[direct]\nport = 70000\n", "direct.port", "0 to 65535"),
        (
            "[video]\nmax_fps = \"fast\"\n",
            "video.max_fps",
            "whole number",
        ),
        ("id = \"12\"\n", "id", "6–16 digits"),
        (
            "[direct]\nenabled = \"sometimes\"\n",
            "direct.enabled",
            "\"auto\"",
        ),
    ];
    for (text, field, fix) in cases {
        let (_dir, path) = temp();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        let err = load_or_create(&path, &Env::default())
            .expect_err(text)
            .to_string();
        assert!(
            err.contains(&format!("`{field}`")) && err.contains(fix),
            "{text:?} gave: {err}"
        );
    }
    let (_dir, path) = temp();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "[server\n").unwrap();
    let err = load_or_create(&path, &Env::default())
        .expect_err("syntax")
        .to_string();
    assert!(err.contains("not valid TOML"), "{err}");
}

#[test]
fn environment_overrides_apply_for_one_run_and_are_never_written() {
    let (_dir, path) = temp();
    let (_, _) = load_or_create(&path, &Env::default()).unwrap();
    let before = fs::read_to_string(&path).unwrap();
    let key = BASE64.encode([9u8; 32]);
    let env = Env::from_pairs([
        ("DESKCAST_SERVER", "10.0.0.5"),
        ("DESKCAST_KEY", key.as_str()),
        ("DESKCAST_DIRECT", "on"),
        ("DESKCAST_MAX_FPS", "30"),
        ("DESKCAST_PASSWORD", "from-env"),
    ]);
    let (config, _) = load_or_create(&path, &env).unwrap();
    assert_eq!(config.server.rendezvous.as_deref(), Some("10.0.0.5"));
    assert_eq!(config.server.key.as_deref(), Some(key.as_str()));
    assert!(config.direct.enabled(&config.server));
    assert_eq!(config.video.max_fps, 30);
    assert_eq!(
        config.password_hash,
        Some(password_hash("from-env", &config.salt))
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), before);

    let err = load_or_create(&path, &Env::from_pairs([("DESKCAST_MAX_FPS", "lots")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("environment variable DESKCAST_MAX_FPS"),
        "{err}"
    );
}

#[test]
fn masked_output_hides_secrets() {
    let (_dir, path) = temp();
    let (config, _) = load_or_create(&path, &Env::default()).unwrap();
    let shown = masked(&config);
    let file = fs::read_to_string(&path).unwrap();
    let secret = file.lines().find(|l| l.starts_with("secret_key")).unwrap();
    let value = secret.split('"').nth(1).unwrap();
    assert!(!shown.contains(value) && !shown.contains(&config.salt));
    assert!(shown.contains(&config.id) && shown.contains("********"));
    assert!(!format!("{config:?}").contains(&config.salt));
}

#[test]
fn default_path_follows_xdg() {
    let env = Env::from_pairs([("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(
        default_path(&env).unwrap(),
        PathBuf::from("/x/deskcast/deskcast.toml")
    );
    let env = Env::from_pairs([("HOME", "/h")]);
    assert_eq!(
        default_path(&env).unwrap(),
        PathBuf::from("/h/.config/deskcast/deskcast.toml")
    );
    assert!(matches!(
        default_path(&Env::default()),
        Err(ConfigError::NoConfigDir)
    ));
}
