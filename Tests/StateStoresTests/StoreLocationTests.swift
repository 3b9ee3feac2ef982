import StateStores
import Testing

@Suite("--store locations")
struct StoreLocationTests {
    @Test("memory, sqlite:PATH and postgres:// URLs are read; the password is never shown")
    func parses() throws {
        #expect(try StoreLocation(parsing: "memory") == .memory)
        #expect(try StoreLocation(parsing: "sqlite:/var/lib/castbridge/state.sqlite") == .sqlite(path: "/var/lib/castbridge/state.sqlite"))
        #expect(try StoreLocation(parsing: "sqlite:relative/x.sqlite") == .sqlite(path: "relative/x.sqlite"))
        let pg = try StoreLocation(parsing: "postgres://cast%40bridge:p%2Fss@db.example:6432/castbridge?sslmode=verify-full")
        #expect(pg == .postgres(PostgresAddress(host: "db.example", port: 6432, user: "cast@bridge", password: "p/ss", database: "castbridge", tls: .verifyFull)))
        #expect(pg.description == "postgres://cast@bridge:***@db.example:6432/castbridge?sslmode=verify-full")
        let plain = try StoreLocation(parsing: "postgresql://cb@127.0.0.1/cb")
        #expect(plain == .postgres(PostgresAddress(host: "127.0.0.1", port: 5432, user: "cb", database: "cb")))
        #expect(!plain.description.contains("***"))
    }

    @Test("Each unusable value is refused with what to write instead, and never echoes a password")
    func refuses() {
        let cases: [(String, String)] = [
            ("redis://x", "memory, sqlite:PATH or postgres://"),
            ("sqlite:", "needs a file path"),
            ("postgres://db.example/cb", "names no user"),
            ("postgres://u:secret@db.example", "names no database"),
            ("postgres://u:secret@db.example/cb?sslmode=maybe", "sslmode must be"),
            ("postgres://u:secret@db.example/cb?pool=3", "'pool' is not"),
        ]
        for (text, reason) in cases {
            #expect {
                try StoreLocation(parsing: text)
            } throws: { error in
                let message = String(describing: error)
                return message.contains(reason) && !message.contains("secret")
            }
        }
    }
}
