//! `rukt login REGISTRY`: checks the credentials against the registry (as
//! it asks: basic auth or its token server) and only then saves them in
//! the auth file podman uses (`auths[HOST].auth`, mode 0600);
//! `rukt logout REGISTRY` removes them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use rukt_images::registry::tls::certs_dirs;
use rukt_images::registry::{
    Client, ClientOptions, Credential, Credentials, RegistriesConf, authfile,
};

use super::Globals;
use crate::cli::login::{LoginArgs, LogoutArgs};

/// `HOST[:PORT]` of a registry argument (a scheme or path is dropped, as
/// docker and podman accept them).
fn registry_host(arg: &str) -> Result<String> {
    let host = authfile::normalise_key(arg.trim());
    if host.is_empty() || host.contains(char::is_whitespace) {
        bail!("invalid registry {arg:?}: expected HOST[:PORT]");
    }
    Ok(host)
}

fn auth_file(g: &Globals, flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| authfile::login_file(&g.config_dir))
}

pub fn login(g: &Globals, args: LoginArgs) -> Result<ExitCode> {
    let host = registry_host(&args.registry)?;
    let file = auth_file(g, args.authfile);
    let username = match args.username {
        Some(u) => u,
        None => ask("Username: ", false)?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        ask("Password: ", true)?
    };
    if username.is_empty() || password.is_empty() {
        bail!("a user name and a password are needed to log in to {host}");
    }
    let registries = RegistriesConf::load(&g.config_dir.join("registries.conf"))?;
    let ep = registries.host_endpoint(&host, g.insecure_http);
    let given = Credential::password(&username, &password, "the login command");
    let client = Client::new(
        Credentials::default().with(&host, given),
        ClientOptions {
            certs_dirs: certs_dirs(&g.config_dir),
            ..ClientOptions::default()
        },
    );
    client
        .check_login(&ep)
        .with_context(|| format!("cannot log in to {host}; {} unchanged", file.display()))?;
    authfile::store(&file, &host, &username, &password)?;
    writeln!(
        std::io::stdout(),
        "login succeeded; credentials for {host} saved in {}",
        file.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn logout(g: &Globals, args: LogoutArgs) -> Result<ExitCode> {
    let host = registry_host(&args.registry)?;
    let file = auth_file(g, args.authfile);
    if !authfile::remove(&file, &host)? {
        bail!(
            "not logged in to {host}: {} has no entry for it",
            file.display()
        );
    }
    writeln!(
        std::io::stdout(),
        "removed the credentials for {host} from {}",
        file.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal (without echo for a secret); refuses when stdin
/// is not a terminal.
fn ask(prompt: &str, secret: bool) -> Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "stdin is not a terminal: give {}",
            if secret {
                "--password-stdin and the password on stdin"
            } else {
                "--username"
            }
        );
    }
    let mut err = std::io::stderr();
    write!(err, "{prompt}")?;
    err.flush()?;
    let echo = |on: bool| {
        Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(Stdio::inherit())
            .status()
    };
    if secret {
        echo(false).context("cannot turn off the terminal's echo (stty)")?;
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if secret {
        let _ = echo(true);
        writeln!(err)?;
    }
    read.context("cannot read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
