"""The DNS family: queries (`query`), their rendering (`render`) and the /dig command."""
