//! Who is running the CLI, for the chats it saves. In order: `--user` / `DRA_USER`; the
//! Databricks user (SCIM `Me`) when Databricks credentials are configured, so the CLI's
//! chats are the ones `dra serve` shows that user; else the OS user as `<user>@localhost`.

use dra::databricks::DatabricksAuth;

use super::Context;

/// The longest user id `chats.user_id` holds.
const MAX_USER_CHARS: usize = 255;

/// The user id chats are saved under.
pub async fn cli_user(ctx: &Context, flag: Option<&str>) -> anyhow::Result<String> {
    if let Some(user) = flag.map(str::trim).filter(|u| !u.is_empty()) {
        anyhow::ensure!(
            user.chars().count() <= MAX_USER_CHARS,
            "--user / DRA_USER is longer than {MAX_USER_CHARS} characters"
        );
        return Ok(user.to_string());
    }
    // Unconfigured credentials are the normal case for a local run: no message.
    if let Ok(auth) = DatabricksAuth::resolve(&ctx.auth, &ctx.env) {
        let client = dra::databricks::WorkspaceClient::new(std::sync::Arc::new(auth));
        match client.current_user().await {
            Ok(me) if !me.user_name.trim().is_empty() => return Ok(me.user_name),
            Ok(_) => {}
            Err(e) => {
                let fallback = os_user(ctx);
                eprintln!(
                    "warning: cannot ask Databricks who you are ({e}); saving as {fallback} (pass --user to choose)"
                );
                return Ok(fallback);
            }
        }
    }
    Ok(os_user(ctx))
}

/// Who runs an unsaved run, for its trace: `--user` / `DRA_USER`, else the OS user
/// (`$USER`), else `cli`. Asks no server: an unsaved run needs no credentials.
pub fn trace_user(ctx: &Context, flag: Option<&str>) -> String {
    flag.map(str::trim)
        .filter(|u| !u.is_empty())
        .or_else(|| {
            ctx.env
                .get("USER")
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        })
        .unwrap_or("cli")
        .to_string()
}

fn os_user(ctx: &Context) -> String {
    let name = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| ctx.env.get(*k).map(|v| v.trim()).filter(|v| !v.is_empty()))
        .unwrap_or("user");
    format!("{name}@localhost")
}
