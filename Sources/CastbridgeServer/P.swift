import FHIRcastCore
import Hummingbird
import HummingbirdWebSocket
import AsyncHTTPClient
import Crypto
import ServiceLifecycle
public enum P2 {}
