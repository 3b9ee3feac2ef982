import CastbridgeServer
import ArgumentParser
print("x")
