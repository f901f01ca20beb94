raise ValueError("boom: this program is broken")
