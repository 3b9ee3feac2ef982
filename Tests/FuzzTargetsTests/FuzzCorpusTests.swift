import Foundation
import FuzzTargets
import Testing

/// The committed fuzz corpus (`Fuzz/Corpus/<target>/`, seeds and every finding) replayed through its target: a
/// finding fixed once stays fixed.
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/Corpus").standardized

    @Test("Every fuzz target has a seed corpus, and every file of it runs through its target", arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) throws {
        let folder = Self.corpus.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }
        #expect(!files.isEmpty, "no seed corpus for \(name)")
        let target = try #require(FuzzTargets.named(name))
        for file in files {
            let data = try Data(contentsOf: folder.appendingPathComponent(file))
            target(Array(data))
        }
    }
}
