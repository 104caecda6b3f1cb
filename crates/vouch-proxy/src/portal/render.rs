//! The portal's pages as HTML text: plain string building in which every
//! value passes through [`esc`] (text and attribute values alike), and the
//! copy-paste commands, whose values also pass through [`sh_quote`]. No
//! JavaScript and no third-party asset: one stylesheet and the vendor's
//! logo, both served by the proxy (`/portal/style.css`, `/portal/logo`).

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::policy::ClaimMatch;

/// How many days before expiry the license page warns.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Escapes text for HTML element content and double- or single-quoted
/// attribute values (OWASP's five characters).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes a value for a POSIX shell: as is when it holds only characters
/// no shell treats specially, else in single quotes (a `'` inside as `'\''`).
pub fn sh_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Who the portal belongs to, from `[portal]`.
#[derive(Debug, Clone)]
pub struct Branding {
    /// The vendor's name, in the header and titles.
    pub vendor_name: String,
    /// Whether `/portal/logo` serves a logo.
    pub has_logo: bool,
}

/// A page's skeleton around `main` (already HTML).
pub fn page(branding: &Branding, title: &str, main: &str) -> String {
    let vendor = esc(&branding.vendor_name);
    let logo = if branding.has_logo {
        format!(r#"<img class="logo" src="/portal/logo" alt="{vendor} logo">"#)
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · {vendor}</title>\n<link rel=\"stylesheet\" href=\"/portal/style.css\">\n\
         </head>\n<body>\n<header>{logo}<p class=\"vendor\">{vendor} customer portal</p></header>\n\
         <main>\n{main}\n</main>\n</body>\n</html>\n",
        esc(title)
    )
}

/// What the sign-in page shows.
#[derive(Debug, Clone, Default)]
pub struct SignIn<'a> {
    /// The email to fill in (from `?email=`, or what was typed).
    pub email: &'a str,
    /// The form's CSRF token.
    pub csrf: &'a str,
    /// Why the last attempt failed, or a notice (signed out).
    pub message: Option<(Notice, &'a str)>,
}

/// How a message is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Something went wrong: `role="alert"`.
    Error,
    /// Information: `role="status"`.
    Info,
}

fn notice(kind: Notice, text: &str) -> String {
    let (class, role) = match kind {
        Notice::Error => ("banner error", "alert"),
        Notice::Info => ("banner info", "status"),
    };
    format!(r#"<p class="{class}" role="{role}">{}</p>"#, esc(text))
}

/// The sign-in page.
pub fn sign_in(branding: &Branding, form: &SignIn<'_>) -> String {
    let mut main = String::from("<h1>Sign in</h1>\n");
    if let Some((kind, text)) = form.message {
        main.push_str(&notice(kind, text));
    }
    let _ = write!(
        main,
        r#"<p>Use the email your license was issued to and your license ID — the same credentials as <code>docker login</code>.</p>
<form method="post" action="/portal/sign-in">
<input type="hidden" name="csrf" value="{csrf}">
<p><label for="email">Email</label><br>
<input id="email" name="email" type="email" autocomplete="username" required value="{email}"></p>
<p><label for="license_id">License ID</label><br>
<input id="license_id" name="license_id" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>"#,
        csrf = esc(form.csrf),
        email = esc(form.email),
    );
    page(branding, "Sign in", &main)
}

/// A simple page with one message (errors, rate limits).
pub fn message(branding: &Branding, title: &str, text: &str) -> String {
    let main = format!(
        "<h1>{}</h1>\n{}\n<p><a href=\"/portal/\">Back to the portal</a></p>",
        esc(title),
        notice(Notice::Error, text)
    );
    page(branding, title, &main)
}

/// A license's state as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Current.
    Active,
    /// Past its expiry.
    Expired,
}

/// One image of a version.
#[derive(Debug, Clone)]
pub struct ImageRow {
    /// `host/proxy/<app>/<upstream>/<repo>`.
    pub name: String,
    /// `<name>:<tag>` (or `<name>@<digest>`).
    pub reference: String,
    /// Its current digest, or why it is not known now.
    pub digest: Result<String, String>,
}

/// The verification commands of a version, when the app has a release policy.
#[derive(Debug, Clone)]
pub struct Verification {
    /// Where the policy file downloads from (`/portal/policy/<version>`).
    pub policy_url: String,
    /// The file name it downloads as.
    pub policy_file: String,
    /// Who signs.
    pub subject: ClaimMatch,
    /// Their issuer.
    pub issuer: ClaimMatch,
    /// cosign `--type` names or URIs of the required attestations.
    pub attestations: Vec<String>,
}

/// One version on one channel.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// The version label.
    pub version: String,
    /// Its images.
    pub images: Vec<ImageRow>,
    /// Said when the images cannot be listed (no policy names them).
    pub note: Option<String>,
    /// Present when the app has a release policy.
    pub verification: Option<Verification>,
}

/// A channel and what it serves.
#[derive(Debug, Clone)]
pub struct ChannelView {
    /// Its name.
    pub name: String,
    /// Its versions, in the order the vendor released them.
    pub versions: Vec<VersionView>,
}

/// Everything the license page shows.
#[derive(Debug, Clone)]
pub struct LicensePage {
    /// The registry host customers pull from (`host[:port]`).
    pub host: String,
    /// The customer's email.
    pub email: String,
    /// The license number.
    pub number: i64,
    /// Its app.
    pub app: String,
    /// Current or expired.
    pub standing: Standing,
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// Now (for "in N days").
    pub now: Timestamp,
    /// Its channels and their versions (versions empty when expired).
    pub channels: Vec<ChannelView>,
    /// The sign-out form's CSRF token.
    pub csrf: String,
}

fn expiry_banner(p: &LicensePage, vendor: &str) -> String {
    let Some(at) = p.expires_at else {
        return String::new();
    };
    let date = at.strftime("%Y-%m-%d %H:%M UTC").to_string();
    if p.standing == Standing::Expired {
        return notice(
            Notice::Error,
            &format!(
                "Your license expired on {date}. Pulls and verification through this registry are refused until {vendor} renews it."
            ),
        );
    }
    let left = at.duration_since(p.now).as_secs() / 86_400;
    if left < EXPIRY_WARNING_DAYS {
        let days = match left {
            0 => "less than a day".to_string(),
            1 => "1 day".to_string(),
            n => format!("{n} days"),
        };
        return notice(
            Notice::Error,
            &format!("Your license expires on {date}, in {days}. Ask {vendor} to renew it."),
        );
    }
    String::new()
}

fn code_block(label: &str, command: &str) -> String {
    format!(
        "<p class=\"cmd-label\">{}</p>\n<pre><code>{}</code></pre>\n",
        esc(label),
        esc(command)
    )
}

/// `vouch login` and `docker login` for this customer.
pub fn login_commands(host: &str, email: &str) -> Vec<(String, String)> {
    let (host, email) = (sh_quote(host), sh_quote(email));
    vec![
        (
            "vouch (paste your license ID on standard input)".into(),
            format!("vouch login {host} -u {email} --password-stdin"),
        ),
        (
            "docker (paste your license ID at the password prompt)".into(),
            format!("docker login {host} -u {email}"),
        ),
    ]
}

/// `vouch verify-release` and the seed guide's cosign equivalents for one
/// version, the cosign ones for `image` (a reference by digest).
pub fn verify_commands(
    version: &str,
    verification: &Verification,
    image: Option<&str>,
) -> Vec<(String, String)> {
    let mut out = vec![(
        "vouch: the whole release, with the policy file above".to_string(),
        format!(
            "vouch verify-release --policy {} --version {}",
            sh_quote(&verification.policy_file),
            sh_quote(version)
        ),
    )];
    let Some(image) = image else {
        return out;
    };
    let (id_flag, id) = verification.subject.cosign_flag("--certificate-identity");
    let (iss_flag, iss) = verification.issuer.cosign_flag("--certificate-oidc-issuer");
    let flags = format!(
        "{id_flag}={} \\\n  {iss_flag}={}",
        sh_quote(&id),
        sh_quote(&iss)
    );
    let image = sh_quote(image);
    out.push((
        "cosign: the signature of one image (repeat for each image above)".into(),
        format!("cosign verify \\\n  {flags} \\\n  {image}"),
    ));
    for kind in &verification.attestations {
        out.push((
            format!("cosign: its {kind} attestation"),
            format!(
                "cosign verify-attestation --type {} \\\n  {flags} \\\n  {image}",
                sh_quote(kind)
            ),
        ));
    }
    out
}

fn version_section(channel: &str, v: &VersionView) -> String {
    let mut s = format!(
        "<section class=\"version\" aria-labelledby=\"v-{id}\">\n<h3 id=\"v-{id}\">Version {}</h3>\n",
        esc(&v.version),
        id = esc(&format!("{channel}-{}", v.version)),
    );
    if let Some(note) = &v.note {
        let _ = writeln!(s, "<p>{}</p>", esc(note));
    }
    if !v.images.is_empty() {
        s.push_str(
            "<table>\n<caption>Images of this version</caption>\n<thead><tr><th scope=\"col\">Image reference</th><th scope=\"col\">Current digest</th></tr></thead>\n<tbody>\n",
        );
        for image in &v.images {
            let digest = match &image.digest {
                Ok(d) => format!("<code>{}</code>", esc(d)),
                Err(why) => format!("<span class=\"unknown\">unknown now: {}</span>", esc(why)),
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td>{digest}</td></tr>",
                esc(&image.reference)
            );
        }
        s.push_str("</tbody>\n</table>\n");
    }
    if let Some(verification) = &v.verification {
        let _ = writeln!(
            s,
            "<h4>Verify this version</h4>\n<p><a class=\"download\" href=\"{}\" download=\"{}\">Download the release policy ({})</a> for <code>vouch verify-release</code>.</p>",
            esc(&verification.policy_url),
            esc(&verification.policy_file),
            esc(&verification.policy_file),
        );
        let first = v
            .images
            .iter()
            .find_map(|i| i.digest.as_ref().ok().map(|d| format!("{}@{d}", i.name)));
        for (label, command) in verify_commands(&v.version, verification, first.as_deref()) {
            s.push_str(&code_block(&label, &command));
        }
    }
    s.push_str("</section>\n");
    s
}

/// The license page.
pub fn license(branding: &Branding, p: &LicensePage) -> String {
    let vendor = &branding.vendor_name;
    let mut main = format!("<h1>License {}</h1>\n", p.number);
    main.push_str(&expiry_banner(p, vendor));
    let status = match p.standing {
        Standing::Active => "active",
        Standing::Expired => "expired",
    };
    let expires = p.expires_at.map_or("never".to_string(), |t| {
        t.strftime("%Y-%m-%d %H:%M UTC").to_string()
    });
    let channels: Vec<String> = p.channels.iter().map(|c| c.name.clone()).collect();
    let _ = write!(
        main,
        "<dl class=\"facts\">\n<dt>Signed in as</dt><dd>{}</dd>\n<dt>App</dt><dd>{}</dd>\n<dt>Status</dt><dd>{status}</dd>\n<dt>Expires</dt><dd>{}</dd>\n<dt>Channels</dt><dd>{}</dd>\n</dl>\n",
        esc(&p.email),
        esc(&p.app),
        esc(&expires),
        esc(&channels.join(", ")),
    );
    let _ = write!(
        main,
        "<form method=\"post\" action=\"/portal/sign-out\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n<button type=\"submit\">Sign out</button>\n</form>\n",
        esc(&p.csrf)
    );
    if p.standing == Standing::Expired {
        return page(branding, &format!("License {}", p.number), &main);
    }
    main.push_str("<h2>Log in to the registry</h2>\n");
    for (label, command) in login_commands(&p.host, &p.email) {
        main.push_str(&code_block(&label, &command));
    }
    for channel in &p.channels {
        let _ = writeln!(main, "<h2>Channel {}</h2>", esc(&channel.name));
        if channel.versions.is_empty() {
            main.push_str("<p>No versions on this channel yet.</p>\n");
        }
        for v in &channel.versions {
            main.push_str(&version_section(&channel.name, v));
        }
    }
    page(branding, &format!("License {}", p.number), &main)
}

/// The stylesheet: system fonts, WCAG AA contrast (body text #1a1a1a on
/// white, 17:1; links #0b57d0, 6.4:1; the error banner #7a0000 on #fde8e8,
/// 9:1), visible focus.
pub const STYLE_CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0;line-height:1.5}
header{display:flex;align-items:center;gap:1rem;padding:.75rem 1.5rem;border-bottom:1px solid #d0d0d0;background:#f6f6f6}
header .logo{height:40px;width:auto}
header .vendor{font-weight:600;margin:0}
main{max-width:64rem;padding:1rem 1.5rem 3rem}
a{color:#0b57d0}
a:focus,button:focus,input:focus{outline:3px solid #0b57d0;outline-offset:2px}
label{font-weight:600}
input{font:inherit;padding:.4rem;border:1px solid #595959;border-radius:4px;min-width:20rem;max-width:100%}
button{font:inherit;padding:.4rem 1rem;border:1px solid #0b57d0;background:#0b57d0;color:#fff;border-radius:4px;cursor:pointer}
.banner{padding:.75rem 1rem;border-radius:4px;font-weight:600}
.banner.error{background:#fde8e8;color:#7a0000;border:1px solid #7a0000}
.banner.info{background:#e8f0fe;color:#0b3d91;border:1px solid #0b3d91}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #d0d0d0;padding:.3rem .5rem;text-align:left;vertical-align:top;word-break:break-all}
pre{background:#f3f3f3;border:1px solid #d0d0d0;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.cmd-label{margin:.75rem 0 .25rem;font-weight:600}
.unknown{color:#7a0000}
section.version{border-top:1px solid #d0d0d0;margin-top:1rem}
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn shell_values_are_quoted_when_needed() {
        assert_eq!(sh_quote("a@b.com"), "a@b.com");
        assert_eq!(sh_quote("host:443/proxy/x"), "host:443/proxy/x");
        assert_eq!(sh_quote(r"^(?:a\.b.*)$"), r"'^(?:a\.b.*)$'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    fn branding() -> Branding {
        Branding {
            vendor_name: "Acme <Corp>".into(),
            has_logo: true,
        }
    }

    #[test]
    fn pages_escape_what_they_show() {
        let html = sign_in(
            &branding(),
            &SignIn {
                email: "\"><script>alert(1)</script>",
                csrf: "t\"x",
                message: Some((Notice::Error, "<b>no</b>")),
            },
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("Acme &lt;Corp&gt; customer portal"));
        assert!(html.contains("value=\"t&quot;x\""));
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(
            html.contains("<label for=\"email\">") && html.contains("<label for=\"license_id\">")
        );
    }
}
