//! `dra grant-permissions`: let an app's service principal use the tables the developer's
//! migrations created.

use std::process::ExitCode;

use anyhow::Context as _;
use dra::db::admin;

use super::Context;
use crate::cli::GrantPermissionsArgs;

pub async fn run(ctx: &Context, args: GrantPermissionsArgs) -> anyhow::Result<ExitCode> {
    let role = match (&args.principal, &args.app) {
        (Some(principal), _) => principal.clone(),
        (None, Some(app_name)) => {
            let client = ctx.workspace()?;
            // Exact name lookup: a substring match could grant to the wrong app.
            let app = client.app(app_name).await?;
            let role = app
                .service_principal_client_id
                .clone()
                .filter(|id| !id.is_empty())
                .with_context(|| {
                    format!("app `{}` has no service principal yet; deploy it first (`databricks bundle deploy`)", app.name)
                })?;
            println!(
                "app `{}`: service principal {} ({})",
                app.name,
                role,
                app.service_principal_name.as_deref().unwrap_or("unnamed")
            );
            role
        }
        (None, None) => anyhow::bail!("pass --app NAME or --principal ROLE"),
    };
    let base = ctx.target(&args.target).await?;
    let database = ctx.database_name(
        args.database.as_deref(),
        &base,
        args.target.instance.is_some(),
    );
    let target = base.with_database(&database);
    let mut conn = target.connect().await?;
    let statements = admin::grant_schema_access(&mut conn, &role).await.with_context(|| {
        format!("while granting access on database \"{database}\" to `{role}` (on Lakebase, the app's role appears once its database resource is deployed)")
    })?;
    for sql in &statements {
        println!("  {sql}");
    }
    println!("granted `{role}` full use of schema public in database \"{database}\" (existing and future tables and sequences)");
    Ok(ExitCode::SUCCESS)
}
