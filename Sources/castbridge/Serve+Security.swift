import AccessCore
import ArgumentParser
import CastbridgeServer
import FHIRcastCore
import Foundation

extension Serve {
    /// `--auth` and what goes with it (Docs/security.md). Refuses to serve without tokens on an address other machines
    /// can reach, unless `--allow-anonymous`.
    func securityOptions(
        _ c: inout ServerConfiguration, value: (String?, String, (String) -> String?) throws -> String?, envFlag: (String) -> Bool
    ) throws {
        if let v = try value(auth, "AUTH", { $0 }) {
            guard let mode = AuthMode(rawValue: v.lowercased()) else { throw ValidationError("unknown --auth '\(v)': use off, mock or oidc") }
            c.auth = mode
        }
        c.allowAnonymous = allowAnonymous || envFlag("ALLOW_ANONYMOUS")
        c.oidcIssuer = try value(oidcIssuer, "OIDC_ISSUER", { $0 })
        c.oidcAudience = try value(oidcAudience, "OIDC_AUDIENCE", { $0 })
        c.oidcDiscoveryURL = try value(oidcDiscoveryUrl, "OIDC_DISCOVERY_URL", { $0 })
        if let v = try value(adminRole, "ADMIN_ROLE", { $0 }) {
            guard !v.isEmpty else { throw ValidationError("the admin role must not be empty") }
            c.adminRole = v
        }
        if let v = try value(anyTopicRole, "ANY_TOPIC_ROLE", { $0 }) {
            guard !v.isEmpty else { throw ValidationError("the any-topic role must not be empty") }
            c.anyTopicRole = v
        }
        if let v = try value(corsOrigins, "CORS_ORIGINS", { $0 }) {
            c.corsOrigins = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for origin in c.corsOrigins where origin != "*" && !(origin.hasPrefix("https://") || origin.hasPrefix("http://")) {
                throw ValidationError("--cors-origins takes origins such as https://viewer.example, or *; '\(origin)' is neither")
            }
        }
        if let v = try value(webhookAllow, "WEBHOOK_ALLOW", { $0 }) {
            c.webhookAllow = try v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map {
                guard let range = CIDR($0) else { throw ValidationError("--webhook-allow takes CIDRs such as 10.0.0.0/8 or fd00::/8; '\($0)' is not one") }
                return range
            }
        }
        c.tlsCertificatePath = try value(tlsCert, "TLS_CERT", { $0 })
        c.tlsKeyPath = try value(tlsKey, "TLS_KEY", { $0 })
        if (c.tlsCertificatePath == nil) != (c.tlsKeyPath == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        do {
            _ = try c.tlsConfiguration()
        } catch {
            throw ValidationError("\(error)")
        }
        switch c.auth {
        case .oidc:
            guard let issuer = c.oidcIssuer else {
                throw ValidationError("--auth oidc needs --oidc-issuer, e.g. https://keycloak.example/realms/castbridge")
            }
            if let problem = OutboundURL.problem(issuer) { throw ValidationError("--oidc-issuer \(problem) (\(issuer))") }
            if let url = c.oidcDiscoveryURL, let problem = OutboundURL.problem(url) {
                throw ValidationError("--oidc-discovery-url \(problem) (\(url))")
            }
        case .off, .mock:
            if c.oidcIssuer != nil || c.oidcDiscoveryURL != nil { throw ValidationError("--oidc-issuer and --oidc-discovery-url go with --auth oidc") }
        }
        if c.auth == .mock, !c.castMockOAuth {
            throw ValidationError("--auth mock needs the development server's /oauth endpoints")
        }
        if let problem = c.exposureProblem { throw ValidationError(problem) }
    }
}
