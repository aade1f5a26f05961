"""Auto provisioning (TFTP/HTTP/HTTPS/FTP, Escene file formats): not built yet (issue 5)."""
