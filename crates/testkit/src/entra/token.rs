//! The Entra stand-in's token endpoint (`POST /{tenant}/oauth2/v2.0/token`): client secrets and
//! client assertions, the scopes it knows, and its AADSTS error shape.

use super::faults::injected;
use super::{Ctx, EntraOp, Issued, Reply, State};
use rand::RngExt;
use serde_json::json;
use std::collections::HashMap;

/// The only `client_assertion_type` the token endpoint takes (contracts/entra-graph.md).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn random_token() -> String {
    let mut rng = rand::rng();
    (0..96)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect()
}

const CLOUDS: [crate::config::Cloud; 4] = [
    crate::config::Cloud::Global,
    crate::config::Cloud::Usgov,
    crate::config::Cloud::UsgovDod,
    crate::config::Cloud::China,
];

pub(super) fn graph_scope(scope: &str) -> bool {
    CLOUDS.iter().any(|c| c.graph_scope() == scope)
}

pub(super) fn known_scope(scope: &str) -> bool {
    graph_scope(scope) || CLOUDS.iter().any(|c| c.intune_scope() == scope)
}

pub(super) fn token_error(ctx: &Ctx, status: u16, error: &str, code: u32, message: &str) -> Reply {
    let ts = ctx.now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let mut r = Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {ts}",
                ctx.request_id, ctx.client_request_id
            ),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": ctx.request_id,
            "correlation_id": ctx.client_request_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    );
    // The login endpoint names its request id `x-ms-request-id` (Graph uses `request-id`).
    r.headers.push(("x-ms-request-id", ctx.request_id.clone()));
    r
}

pub(super) fn token_endpoint(st: &mut State, ctx: &Ctx, path: &str, body: &str) -> Reply {
    if let Some(reply) = injected(st, ctx, EntraOp::Token, true) {
        return reply;
    }
    let tenant_seg = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let Some(tenant) = st
        .tenants
        .iter()
        .find(|(id, dom)| {
            id.eq_ignore_ascii_case(tenant_seg)
                || dom
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(tenant_seg))
        })
        .map(|(id, _)| id.clone())
    else {
        let msg = format!("Tenant '{tenant_seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.");
        return token_error(ctx, 400, "invalid_tenant", 90002, &msg);
    };
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return token_error(
            ctx,
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let lag = st.lag;
    let Some(app) = st
        .apps
        .values_mut()
        .find(|a| a.tenant == tenant && a.client_id == client_id)
    else {
        let msg = format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'."
        );
        return token_error(ctx, 400, "unauthorized_client", 700016, &msg);
    };
    let scope = form.get("scope").cloned().unwrap_or_default();
    if !known_scope(&scope) {
        let msg = format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.");
        return token_error(ctx, 400, "invalid_scope", 70011, &msg);
    }
    if let Some(jwt) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            let msg =
                "The request body must contain the following parameter: 'client_assertion_type'.";
            return token_error(ctx, 400, "invalid_request", 90014, msg);
        }
        if let Err(r) = st.assertions.check(&client_id, path, jwt, ctx.now) {
            return token_error(ctx, r.status, r.error, r.code, &r.message);
        }
        return issue_token(st, ctx, client_id, tenant, scope);
    }
    let Some(secret) = form.get("client_secret") else {
        return token_error(ctx, 401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
    };
    let listed = app
        .passwords
        .iter_mut()
        .find(|p| &p.secret == secret && p.propagated(ctx.now, lag));
    // A removed password signs in until its removal has reached every node.
    let lagging = st
        .removed
        .iter_mut()
        .filter(|(c, _, until)| *c == client_id && ctx.now < *until)
        .map(|(_, p, _)| p)
        .find(|p| &p.secret == secret);
    let Some(pw) = listed.or(lagging) else {
        let msg = format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'.");
        return token_error(ctx, 401, "invalid_client", 7000215, &msg);
    };
    if pw.end < ctx.now {
        let msg = format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app.");
        return token_error(ctx, 401, "invalid_client", 7000222, &msg);
    }
    pw.last_sign_in = Some(ctx.now);
    issue_token(st, ctx, client_id, tenant, scope)
}

/// Issues an access token for `client_id` in `tenant` for `scope`.
fn issue_token(
    st: &mut State,
    ctx: &Ctx,
    client_id: String,
    tenant: String,
    scope: String,
) -> Reply {
    let token = random_token();
    st.tokens.insert(
        token.clone(),
        Issued {
            client_id,
            tenant,
            scope,
            expires: ctx.now + chrono::Duration::seconds(3599),
        },
    );
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
    )
}
