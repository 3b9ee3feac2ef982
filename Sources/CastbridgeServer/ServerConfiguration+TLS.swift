import NIOSSL

extension ServerConfiguration {
    /// The server's TLS configuration from `tlsCertificatePath` and `tlsKeyPath` (PEM), or nil without them. Throws
    /// with the path and the reason when a file cannot be read or is not PEM.
    public func tlsConfiguration() throws -> TLSConfiguration? {
        guard let certificatePath = tlsCertificatePath, let keyPath = tlsKeyPath else { return nil }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSFileError(description: "--tls-cert \(certificatePath): not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFileError(description: "--tls-cert \(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSFileError(description: "--tls-key \(keyPath): not a readable PEM private key (\(error))")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}

/// A certificate or key file castbridge cannot serve TLS with.
public struct TLSFileError: Error, CustomStringConvertible {
    public var description: String
}
