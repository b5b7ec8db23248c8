"""Layer package: crypto (AES modes, CMAC, CCM, ECC, CMS/DER)."""
