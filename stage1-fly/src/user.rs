//! Taking on the app's identity: supplementary groups, then the group, then
//! the user (after `setuid` the other two could no longer be changed), never
//! keeping more privilege than the app's ids give.

use anyhow::Context;
use nix::unistd::{Gid, Uid};
use rukt_contract::App;
use tracing::debug;

/// Switches the whole process to `app`'s uid, gid and supplementary gids.
pub fn become_user(app: &App) -> anyhow::Result<()> {
    debug!(
        "uid {} gid {} groups {:?}",
        app.uid, app.gid, app.supplementary_gids
    );
    let groups: Vec<Gid> = app
        .supplementary_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).context("cannot set the supplementary groups")?;
    nix::unistd::setgid(Gid::from_raw(app.gid))
        .with_context(|| format!("cannot set gid {}", app.gid))?;
    nix::unistd::setuid(Uid::from_raw(app.uid))
        .with_context(|| format!("cannot set uid {}", app.uid))?;
    Ok(())
}
