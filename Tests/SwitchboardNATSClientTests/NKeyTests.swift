@testable import SwitchboardNATSClient
import Testing

@Suite("NKeys")
struct NKeyTests {
    @Test("the checksum is CRC-16/XMODEM; base32 round-trips without padding")
    func pieces() {
        #expect(CRC16.xmodem(Array("123456789".utf8)[...]) == 0x31C3, "the standard check value")
        for count in 0..<40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base32.encode(bytes)
            #expect(!text.contains("=") && Base32.decode(text) == bytes)
        }
        #expect(Base32.decode("not base32!") == nil)
    }

    @Test("a user seed reads back as the same key: S…/U… text, a signature of the nonce; damaged seeds are refused")
    func seeds() throws {
        let (seed, key) = NKey.makeUser()
        #expect(seed.hasPrefix("SU") && seed.count == 58)
        #expect(key.publicKey.hasPrefix("U") && key.publicKey.count == 56)
        #expect(try NKey(seed: seed).publicKey == key.publicKey)
        let signature = try key.sign(nonce: "abc")
        #expect(signature.count == 86 && !signature.contains("=") && !signature.contains("+") && !signature.contains("/"))
        var damaged = Array(seed)
        damaged[10] = damaged[10] == "A" ? "B" : "A"
        #expect(throws: NKeyError.self) { try NKey(seed: String(damaged)) }
        #expect(throws: NKeyError.self) { try NKey(seed: key.publicKey) }
        let creds = try NATSCredentials(contents: """
            -----BEGIN NATS USER JWT-----
            eyJhbGciOiJlZDI1NTE5In0.e30.sig
            ------END NATS USER JWT------

            ************************* IMPORTANT *************************
            NKEY Seed printed below can be used to sign and prove identity.

            -----BEGIN USER NKEY SEED-----
            \(seed)
            ------END USER NKEY SEED------
            """)
        #expect(creds.jwt == "eyJhbGciOiJlZDI1NTE5In0.e30.sig" && creds.key.publicKey == key.publicKey)
    }
}
