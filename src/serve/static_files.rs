//! The browser UI at `/`: the `static/` folder embedded in the binary, or a directory on
//! disk (`dra serve --static-dir`, for development or the original's built React app).
//!
//! It is the app's default service, so every API route keeps precedence. A path that names
//! no file falls back to `index.html` (client-side routing), except under the API prefixes,
//! which stay 404 in the API's error shape.

use std::path::{Component, Path, PathBuf};

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use super::ApiError;

/// Where the UI comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StaticUi {
    /// No UI: only the API answers (`SERVE_STATIC=false`).
    #[default]
    Off,
    /// The UI compiled into the binary from `static/`.
    Embedded,
    /// Files under this directory, read on each request.
    Dir(PathBuf),
}

/// The UI's own files: compiled into release builds; debug builds read `static/` at run
/// time, so editing the UI needs no rebuild.
#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// Only scripts, styles, images and requests to this origin: with the renderer's
/// escaping, a hostile report cannot run code even if a tag slipped through.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// Whether `path` belongs to the API (never answered with the UI).
pub fn is_api_path(path: &str) -> bool {
    ["/api", "/v1", "/health", "/mcp"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
        || super::responses_agent::PATHS.contains(&path)
}

/// Mounts the UI as the default service (after every route).
pub fn mount(ui: StaticUi) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(ui.clone()))
            .default_service(web::to(serve));
    }
}

async fn serve(req: HttpRequest, ui: web::Data<StaticUi>) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    // A route's path asked with a method it does not serve (TRACE, HEAD, PUT on a
    // list…) is FastAPI's 405, not a missing page.
    let served = super::methods_at(path);
    if !served.is_empty() {
        return Ok(method_not_allowed(&served));
    }
    let ui_path = !is_api_path(path) && !matches!(**ui, StaticUi::Off);
    let method = req.method();
    if ui_path && method != Method::GET && method != Method::HEAD {
        return Ok(method_not_allowed(&[Method::GET, Method::HEAD]));
    }
    // A method no route has (TRACE, CONNECT, OPTIONS, WebDAV's…) is allowed nowhere: the
    // original answers it 405 (its UI's catch-all route takes GET only).
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    if !known.contains(method) {
        return Ok(method_not_allowed(&[]));
    }
    if !ui_path {
        return Err(ApiError::not_found("Path", path.to_string()));
    }
    let Some(relative) = relative_path(path) else {
        return Err(ApiError::not_found("Path", path.to_string()));
    };
    match &**ui {
        StaticUi::Off => Err(ApiError::not_found("Path", path.to_string())),
        StaticUi::Embedded => Ok(embedded(&req, &relative)),
        StaticUi::Dir(dir) => from_dir(&req, dir, &relative).await,
    }
}

/// FastAPI's 405: `{"detail": "Method Not Allowed"}` and the methods that are.
fn method_not_allowed(allowed: &[Method]) -> HttpResponse {
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(serde_json::json!({"detail": "Method Not Allowed"}))
}

/// The file a URL path names, relative to the UI root; `index.html` for a folder; `None`
/// for anything that could leave the root.
fn relative_path(path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut out = PathBuf::new();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains('\\') || segment.contains('\0') {
            return None;
        }
        match Path::new(segment).components().next() {
            Some(Component::Normal(_)) => out.push(segment),
            _ => return None,
        }
    }
    if out.as_os_str().is_empty() || decoded.ends_with('/') {
        out.push("index.html");
    }
    Some(out)
}

/// A path that looks like a file (`app.js`) is a 404 when missing; anything else is a
/// client-side route and gets `index.html`.
fn looks_like_file(relative: &Path) -> bool {
    relative.extension().is_some()
}

fn embedded(req: &HttpRequest, relative: &Path) -> HttpResponse {
    let name = relative.to_string_lossy().replace('\\', "/");
    let (name, file) = match Assets::get(&name) {
        Some(file) => (name, file),
        None if !looks_like_file(relative) || name.ends_with("index.html") => {
            match Assets::get("index.html") {
                Some(file) => ("index.html".to_string(), file),
                None => return HttpResponse::NotFound().finish(),
            }
        }
        None => return HttpResponse::NotFound().finish(),
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let not_modified = etag_matches(req, &etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CONTENT_TYPE, content_type(file.metadata.mimetype())))
        .insert_header((header::ETAG, etag))
        // No hashed file names, so every asset is revalidated (a cheap 304 with the ETag).
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"));
    if name.ends_with(".html") {
        response.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    }
    if not_modified || req.method() == Method::HEAD {
        return response.finish();
    }
    response.body(file.data.into_owned())
}

/// Text types declare UTF-8, as the files are.
fn content_type(mime: &str) -> String {
    if mime.starts_with("text/") || mime == "application/javascript" || mime == "image/svg+xml" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    }
}

fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

async fn from_dir(
    req: &HttpRequest,
    dir: &Path,
    relative: &Path,
) -> Result<HttpResponse, ApiError> {
    let mut file = dir.join(relative);
    if !file.is_file() {
        if looks_like_file(relative) && !relative.ends_with("index.html") {
            return Err(ApiError::not_found("Path", req.path().to_string()));
        }
        file = dir.join("index.html");
    }
    // Symlinks may not lead out of the directory.
    let root = dir.canonicalize().ok();
    let resolved = file.canonicalize().ok();
    let inside = matches!((&root, &resolved), (Some(r), Some(f)) if f.starts_with(r));
    if !inside {
        return Err(ApiError::not_found("Path", req.path().to_string()));
    }
    let named = actix_files::NamedFile::open_async(&file)
        .await
        .map_err(|_| ApiError::not_found("Path", req.path().to_string()))?
        .prefer_utf8(true)
        .disable_content_disposition();
    let mut response = named.into_response(req);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_map_inside_the_root_or_nowhere() {
        assert_eq!(relative_path("/"), Some(PathBuf::from("index.html")));
        assert_eq!(relative_path("/app.js"), Some(PathBuf::from("app.js")));
        assert_eq!(
            relative_path("/vendor/x.css"),
            Some(PathBuf::from("vendor/x.css"))
        );
        assert_eq!(
            relative_path("/chats/abc/"),
            Some(PathBuf::from("chats/abc/index.html"))
        );
        assert_eq!(relative_path("/../etc/passwd"), None);
        assert_eq!(relative_path("/%2e%2e/etc/passwd"), None);
        assert_eq!(relative_path("/a/..%2f..%2fetc"), None);
        assert_eq!(relative_path("/.env"), None);
        assert_eq!(relative_path("/a%5c..%5cb"), None);
    }

    #[test]
    fn api_prefixes_are_not_the_ui() {
        assert!(is_api_path("/api/v1/chats"));
        assert!(is_api_path("/api"));
        assert!(is_api_path("/v1/health"));
        assert!(is_api_path("/health"));
        assert!(is_api_path("/invocations"));
        assert!(is_api_path("/responses"));
        assert!(is_api_path("/mcp"));
        assert!(!is_api_path("/"));
        assert!(!is_api_path("/apis"));
        assert!(!is_api_path("/chats/1"));
    }
}
