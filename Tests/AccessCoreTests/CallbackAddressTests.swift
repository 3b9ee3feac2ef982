import AccessCore
import Testing

@Suite("Webhook callback addresses")
struct CallbackAddressTests {
    @Test("IPv4, IPv6 (compressed, bracketed, with a zone, IPv4-mapped) parse; nonsense does not")
    func parsing() {
        #expect(IPAddress("10.1.2.3")?.bytes == [10, 1, 2, 3])
        #expect(IPAddress("::1")?.bytes == Array(repeating: 0, count: 15) + [1])
        #expect(IPAddress("[fe80::1%eth0]")?.bytes.prefix(2) == [0xfe, 0x80])
        #expect(IPAddress("::ffff:169.254.169.254")?.bytes == [169, 254, 169, 254])
        #expect(IPAddress("2001:db8::8a2e:370:7334")?.description == "2001:db8:0:0:0:8a2e:370:7334")
        for bad in ["", "256.1.1.1", "1.2.3", "1.2.3.4.5", "::1::2", "hub.example.org", "1:2:3:4:5:6:7:8:9", "+1.2.3.4"] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
        #expect(CIDR("10.0.0.0/8")?.contains(IPAddress("10.255.0.1")!) == true)
        #expect(CIDR("172.16.0.0/12")?.contains(IPAddress("172.32.0.1")!) == false)
        #expect(CIDR("fd00::/8")?.contains(IPAddress("fd12::1")!) == true)
        #expect(CIDR("10.0.0.0/8")?.contains(IPAddress("fd12::1")!) == false)
        #expect(CIDR("10.0.0.0/33") == nil)
        // Found by the fuzzer (Fuzz/Corpus/token-and-addresses/empty): an empty range, or one with no address, trapped.
        #expect(CIDR("") == nil)
        #expect(CIDR("/8") == nil)
        #expect(CIDR("/") == nil)
        #expect(CIDR("10.0.0.0/") == nil)
    }

    @Test("Link-local, metadata, unspecified, multicast: never, whatever is allowed; private and loopback only when allowed; public always")
    func policy() {
        let open = CallbackAddressPolicy(allowed: ["0.0.0.0/0", "::/0", "169.254.0.0/16"].compactMap(CIDR.init), allowsLoopback: true)
        for never in ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "fd00:ec2::254", "0.0.0.0", "::", "224.0.0.1", "255.255.255.255"] {
            #expect(open.refusal(for: IPAddress(never)!) != nil, "\(never)")
        }
        let strict = CallbackAddressPolicy()
        for inside in ["127.0.0.1", "::1", "10.0.0.5", "172.20.1.1", "192.168.1.1", "100.64.0.1", "fd12::1"] {
            #expect(strict.refusal(for: IPAddress(inside)!)?.contains("--webhook-allow") == true, "\(inside)")
        }
        for outside in ["8.8.8.8", "2001:4860:4860::8888", "172.32.0.1"] {
            #expect(strict.refusal(for: IPAddress(outside)!) == nil, "\(outside)")
        }
        #expect(CallbackAddressPolicy(allowsLoopback: true).refusal(for: IPAddress("127.0.0.1")!) == nil)
        #expect(CallbackAddressPolicy(allowsLoopback: true).refusal(for: IPAddress("10.0.0.1")!) != nil)
        #expect(CallbackAddressPolicy(allowed: [CIDR("10.1.0.0/16")!]).refusal(for: IPAddress("10.1.2.3")!) == nil)
        #expect(CallbackAddressPolicy(allowed: [CIDR("10.1.0.0/16")!]).refusal(for: IPAddress("10.2.0.1")!) != nil)
    }
}

@Suite("Constant-time comparison")
struct ConstantTimeTests {
    @Test("Equal strings only; a prefix, a longer string or one differing in the last byte are not")
    func equals() {
        #expect(ConstantTime.equals("challenge-123", "challenge-123"))
        #expect(ConstantTime.equals("", ""))
        #expect(!ConstantTime.equals("challenge-123", "challenge-12"))
        #expect(!ConstantTime.equals("challenge-12", "challenge-123"))
        #expect(!ConstantTime.equals("challenge-123", "challenge-124"))
        #expect(!ConstantTime.equals("a", ""))
    }
}
