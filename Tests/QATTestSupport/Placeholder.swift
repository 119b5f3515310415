import QATKit
