//! The Entra stand-in's Graph routes (applications, `addPassword`/`removePassword`, app management
//! policies, the credential sign-in activity report), its bearer-token check and its error shape.

use super::faults::injected;
use super::passwords::add_password;
use super::token::graph_scope;
use super::{header, iso, Ctx, EntraOp, Reply, State};
use axum::http::{HeaderMap, Method};
use serde_json::{json, Map, Value};

/// Graph's answer when the caller does not own the app it wants to change.
fn not_owner(ctx: &Ctx) -> Reply {
    graph_error(
        ctx,
        403,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

pub(super) fn graph_error(ctx: &Ctx, status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {
            "date": iso(ctx.now), "request-id": ctx.request_id, "client-request-id": ctx.client_request_id}}}),
    )
}

pub(super) fn graph(
    st: &mut State,
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &str,
) -> Reply {
    let route = Route::parse(method, path);
    if let Some(op) = route.op() {
        *st.counts.entry(op).or_default() += 1;
    }
    if let Some((n, secs)) = st.throttle.as_mut().filter(|(n, _)| *n > 0) {
        *n -= 1;
        let mut r = graph_error(
            ctx,
            429,
            "Request_ThrottledTemporarily",
            "Too many requests.",
        );
        r.headers.push(("retry-after", secs.to_string()));
        return r;
    }
    if let Some(reply) = route.op().and_then(|op| injected(st, ctx, op, false)) {
        return reply;
    }
    // Authentication: a bearer token this stand-in issued for a Graph scope, not expired.
    let bearer = header(headers, "authorization")
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string));
    let caller = match bearer.as_deref().and_then(|t| st.tokens.get(t)) {
        None => {
            return graph_error(
                ctx,
                401,
                "InvalidAuthenticationToken",
                "Access token is empty or invalid.",
            )
        }
        Some(t) if t.expires <= ctx.now => {
            return graph_error(
                ctx,
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        }
        Some(t) if !graph_scope(&t.scope) => {
            return graph_error(ctx, 401, "InvalidAuthenticationToken", "Invalid audience.")
        }
        Some(t) => (t.client_id.clone(), t.tenant.clone()),
    };
    let find = |st: &State, sel: &AppSel| -> Option<String> {
        st.apps
            .iter()
            .find(|(oid, a)| {
                a.tenant == caller.1
                    && match sel {
                        AppSel::Object(id) => oid.as_str() == id,
                        AppSel::AppId(id) => a.client_id == *id,
                    }
            })
            .map(|(oid, _)| oid.clone())
    };
    let not_found = |sel: &AppSel| {
        let id = match sel {
            AppSel::Object(s) | AppSel::AppId(s) => s,
        };
        graph_error(ctx, 404, "Request_ResourceNotFound", &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."))
    };
    match route {
        Route::GetApp(sel) => match find(st, &sel) {
            None => not_found(&sel),
            Some(oid) if st.read_owned_only && !st.apps[&oid].owners.contains(&caller.0) => {
                not_owner(ctx)
            }
            Some(oid) => {
                let a = &st.apps[&oid];
                let full = json!({
                    "id": oid, "appId": a.client_id, "displayName": a.display_name,
                    "passwordCredentials": a.passwords.iter().map(|p| p.json(false)).collect::<Vec<_>>(),
                });
                Reply::json(200, select(full, query))
            }
        },
        Route::AddPassword(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let tenant_max = st.tenant_max;
            let app = st.apps.get_mut(&oid).expect("found");
            if !app.owners.contains(&caller.0) {
                return not_owner(ctx);
            }
            add_password(app, ctx, tenant_max, body)
        }
        Route::RemovePassword(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let app = st.apps.get_mut(&oid).expect("found");
            if !app.owners.contains(&caller.0) {
                return not_owner(ctx);
            }
            let key = serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("keyId")?.as_str().map(str::to_string));
            let Some(key) = key else {
                return graph_error(
                    ctx,
                    400,
                    "Request_BadRequest",
                    "Invalid request body: keyId is required.",
                );
            };
            let before = app.passwords.len();
            let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut app.passwords)
                .into_iter()
                .partition(|p| p.key_id.eq_ignore_ascii_case(&key));
            app.passwords = kept;
            let client_id = app.client_id.clone();
            let until = ctx.now + chrono::Duration::from_std(st.removal_lag).unwrap_or_default();
            st.removed
                .extend(gone.into_iter().map(|p| (client_id.clone(), p, until)));
            let app = st.apps.get_mut(&oid).expect("found");
            if app.passwords.len() == before {
                return graph_error(
                    ctx,
                    404,
                    "Request_ResourceNotFound",
                    &format!("No password credential found with keyId '{key}'."),
                );
            }
            Reply::empty(204)
        }
        Route::AppPolicies(sel) => {
            let Some(oid) = find(st, &sel) else {
                return not_found(&sel);
            };
            let value: Vec<Value> = st.apps[&oid]
                .max_lifetime
                .map(|max| json!({"id": format!("policy-{oid}"), "displayName": "app policy", "isEnabled": true,
                    "restrictions": {"passwordCredentials": [restriction(max)], "keyCredentials": []}}))
                .into_iter()
                .collect();
            Reply::json(200, json!({"value": value}))
        }
        Route::DefaultPolicy => Reply::json(
            200,
            json!({"id": "00000000-0000-0000-0000-000000000000", "displayName": "Default app management tenant policy",
                "isEnabled": true,
                "applicationRestrictions": {"passwordCredentials": st.tenant_max.map(restriction).into_iter().collect::<Vec<_>>(), "keyCredentials": []},
                "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": []}}),
        ),
        Route::SignIns => {
            let app_id = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "$filter")
                .and_then(|(_, v)| v.split('\'').nth(1).map(str::to_string));
            let lag = chrono::Duration::from_std(st.sign_in_report_lag).unwrap_or_default();
            let value: Vec<Value> = st
                .apps
                .values()
                .filter(|a| a.tenant == caller.1 && app_id.as_deref().is_none_or(|id| a.client_id == id))
                .flat_map(|a| a.passwords.iter().map(move |p| (a, p)))
                .map(|(a, p)| json!({"id": uuid::Uuid::new_v4().to_string(), "keyId": p.key_id, "appId": a.client_id,
                    "credentialOrigin": "application", "keyType": "clientSecret", "keyUsage": "sign",
                    "expirationDateTime": iso(p.end),
                    "signInActivity": p.last_sign_in.filter(|t| *t + lag <= ctx.now).map(|t| json!({"lastSignInDateTime": iso(t), "lastSignInRequestId": uuid::Uuid::new_v4().to_string()}))}))
                .collect();
            Reply::json(200, json!({"value": value}))
        }
        Route::Unknown => graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "Invalid request: unsupported segment or method.",
        ),
    }
}

fn restriction(max: chrono::Duration) -> Value {
    json!({"restrictionType": "passwordLifetime", "maxLifetime": format!("P{}D", max.num_days()),
        "restrictForAppsCreatedAfterDateTime": "2020-01-01T00:00:00Z", "state": "enabled"})
}

/// Keeps only the `$select`ed top-level fields.
fn select(full: Value, query: &str) -> Value {
    let Some((_, sel)) =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "$select")
    else {
        return full;
    };
    let wanted: Vec<&str> = sel.split(',').map(str::trim).collect();
    match full {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()))
                .collect::<Map<_, _>>(),
        ),
        other => other,
    }
}

enum AppSel {
    Object(String),
    AppId(String),
}

enum Route {
    GetApp(AppSel),
    AddPassword(AppSel),
    RemovePassword(AppSel),
    AppPolicies(AppSel),
    DefaultPolicy,
    SignIns,
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        if path == "/beta/reports/appCredentialSignInActivities" && method == Method::GET {
            return Route::SignIns;
        }
        let Some(rest) = path.strip_prefix("/v1.0/") else {
            return Route::Unknown;
        };
        if rest == "policies/defaultAppManagementPolicy" && method == Method::GET {
            return Route::DefaultPolicy;
        }
        let (sel, tail) = if let Some(r) = rest.strip_prefix("applications(appId='") {
            let Some((id, tail)) = r.split_once("')") else {
                return Route::Unknown;
            };
            (AppSel::AppId(id.to_string()), tail)
        } else if let Some(r) = rest.strip_prefix("applications/") {
            let (id, tail) = r.split_once('/').unwrap_or((r, ""));
            (AppSel::Object(id.to_string()), tail)
        } else {
            return Route::Unknown;
        };
        match (method.as_str(), tail.trim_start_matches('/')) {
            ("GET", "") => Route::GetApp(sel),
            ("POST", "addPassword") => Route::AddPassword(sel),
            ("POST", "removePassword") => Route::RemovePassword(sel),
            ("GET", "appManagementPolicies") => Route::AppPolicies(sel),
            _ => Route::Unknown,
        }
    }
    fn op(&self) -> Option<EntraOp> {
        match self {
            Route::GetApp(_) => Some(EntraOp::GetApplication),
            Route::AddPassword(_) => Some(EntraOp::AddPassword),
            Route::RemovePassword(_) => Some(EntraOp::RemovePassword),
            Route::AppPolicies(_) | Route::DefaultPolicy => Some(EntraOp::Policy),
            Route::SignIns | Route::Unknown => None,
        }
    }
}
